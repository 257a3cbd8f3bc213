"""Journal building: the GL journal accounting imports (no Dagster); the listing layouts are ledger/layouts.py.

The `gl` journal (issue 5), from the month's approved charges:

- PI side: one line per (PI fund_org, source, account, reference id) with the net of its charges,
  booked to the PI's fund. The account is the charge's `account_code` tag, else the source's
  `imports.known_sources[].account_code`, else `journal.default_account`; it must match
  `journal.account_code_regex` when one is set. The reference id is the charge's mapped
  `journal.reference_field` (reference_1 = the grant number in the example config), so two grants
  on one fund get two lines.
- Source side: one line per (source, account), the opposite of that source's PI lines in that
  account, booked to the source's fund (`imports.known_sources[].fund_org`). Each source therefore
  balances on its own, and so does the journal.
- Rounding, fund parsing, accounts and descriptions follow ledger/rules.py.

Signs (credits and refunds): a line's net decides its column. A PI line that nets positive is a
debit
to the PI's fund; one that nets negative (a refund larger than the usage) is a CREDIT to the PI's
fund, and the source line for that source and account takes the matching DEBIT when the source
nets negative overall. Zero lines are left out. So sum(PI debits) - sum(PI credits) = the approved
total, and total debits = total credits always.

Rounding: PI lines are rounded by the largest-remainder rule (ledger/rules.py), so they sum to the
rounded approved total exactly; source lines are sums of rounded PI lines, so they are exact in cents
by construction.

Split funding (`funding.splits_file`, pricing/shares.py): the charges of a project with a split in force
(`ChargeGroup.split_line`) are booked as their statement (PI, project) says, by the one rule statements use,
`pricing.shares.allocate_split`: the statement's money per line and corrected fund is rounded to whole cents
on its own (adding up to the statement's total rounded half-even to the cent), each line's split money is
shared between the split's funds (`ChargeGroup.funds`), and each fund's part joins that fund's PI line. So each
fund is debited exactly what the statement tells it. An adjustment to a closed month is a line of its own there
too, booked on the lines that name its origin month like any other adjustment. A charge whose fund a reviewer
corrected (no `funds`) stays on its corrected fund. The other charges are rounded together as above; so the PI
lines add up to `Journal.approved_total`: the rest of the money rounded, plus each split statement's rounded
total (half a cent at most from its exact total). A fund of the split that does not match
`journal.fund_org_regex` refuses the journal like any bad fund.

Descriptions: `journal.debit_description` for PI-side lines and `credit_description` for source-side
lines (whichever column the amount lands in), with `{source} {period} {fund_org} {pi_email}
{project_id} {reference_id} {account}`. When several PIs (or projects) share a line, `{pi_email}` is
"N PIs" (and `{project_id}` "N projects") rather than one of them, since naming one PI on a line
that books several would be false (OpenChargeback took the first charge's). Whitespace is collapsed
and the text cut to `journal.description_max_length` (one less when it will get a formula-guard
quote, so the cell still fits).

Anything that would unbalance or misbook the journal (a source without a credit fund, a fund that
does not parse, a missing or invalid account, a charge without a fund) refuses the whole journal
with every culprit listed: `JournalRefused.problems`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import format_money
from ocb_pipelines.ledger.rules import (
    COMPONENTS,
    account_ok,
    allocate_cents,
    cents_amount,
    describe,
    description_problems,
    fund_regex_groups,
    naming_origin,
    parse_fund_org,
    resolve_account,
    round_total,
    several,
)
from ocb_pipelines.pricing.shares import LineKey, allocate_split, exact_shares, split_line_key


class JournalRefused(ValueError):
    """The journal would not balance or would misbook money; nothing was written. One line per culprit."""

    def __init__(self, period: str, problems: Sequence[str]):
        self.period = period
        self.problems = list(problems)
        listing = "\n  - ".join(self.problems)
        super().__init__(f"journal for {period} refused; no file was written:\n  - {listing}")


@dataclass(frozen=True)
class ChargeGroup:
    """Approved charges of one month sharing everything the journal groups by (summed in the warehouse)."""

    source: str
    fund_org: str | None
    account_code: str | None
    reference: str | None
    pi_email: str | None
    project_id: str | None
    billed: Decimal
    charges: int = 1
    funds: tuple[tuple[str, Decimal], ...] = ()  # the project's funding split [(fund_org, percent)]; () = fund_org
    # The line of its statement's split allocation (pricing.shares.split_line_key) when its project has a split
    # in force, its fund corrected or not; () otherwise (with `funds`: the line of source, account and reference).
    split_line: LineKey | tuple[()] = ()
    # An adjustment to a closed month (late data, ingest/late.py): that month; booked on lines of its own whose
    # descriptions name it. "" for the month's own charges.
    origin_month: str = ""

    def shares(self) -> list[tuple[str, Decimal]]:
        """(fund_org, exact share of `billed`) for each fund of the split."""
        return list(zip([f for f, _ in self.funds], exact_shares(self.billed, [p for _, p in self.funds]),
                        strict=True))

    def allocation_line(self) -> LineKey | None:
        """Its line in its statement's split allocation, or None when its project has no split in force."""
        if self.split_line:
            return self.split_line
        return (split_line_key(self.source, self.account_code, self.reference, None, self.origin_month)
                if self.funds else None)


@dataclass
class JournalLine:
    """One line of a journal. `amount_cents` is positive; `side` says which column it goes in."""

    side: str  # "debit" or "credit"
    party: str  # "pi" (the PI's fund) or "source" (the source's recovery fund)
    source: str
    fund_org: str
    components: dict[str, str]
    account: str
    account_origin: str
    amount_cents: int
    exact: Decimal  # the signed exact net before rounding (positive = debit)
    description: str
    reference_id: str
    pi_emails: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    charges: int = 0
    origin_month: str = ""  # the closed month an adjustment line corrects ("" for the month's own charges)

    @property
    def amount(self) -> Decimal:
        return cents_amount(self.amount_cents)

    @property
    def debit(self) -> Decimal | None:
        return self.amount if self.side == "debit" else None

    @property
    def credit(self) -> Decimal | None:
        return self.amount if self.side == "credit" else None

    def context(self) -> dict[str, Any]:
        """What a template sees for this line (`line.fund`, `line.debit`, ...)."""
        return {
            **{c: "" for c in COMPONENTS},
            **self.components,
            "side": self.side, "party": self.party, "source": self.source, "fund_org": self.fund_org,
            "account": self.account, "debit": self.debit, "credit": self.credit, "amount": self.amount,
            "amount_cents": self.amount_cents, "description": self.description, "reference_id": self.reference_id,
            "pi_email": several(self.pi_emails, "PIs"), "project_id": several(self.project_ids, "projects"),
            "pi_emails": list(self.pi_emails), "project_ids": list(self.project_ids), "charges": self.charges,
            "origin_month": self.origin_month,
        }  # fmt: skip


@dataclass
class Journal:
    period: str
    format: str
    lines: list[JournalLine]
    approved_exact: Decimal
    charges: int
    component_names: tuple[str, ...] = COMPONENTS
    rows: list[dict[str, Any]] = field(default_factory=list)  # standard / summary rows
    booked_cents: int | None = None  # what the PI lines add up to, when split statements are rounded on their own

    @property
    def approved_total(self) -> Decimal:
        """The approved total in cents, as the PI lines book it: the exact total rounded half-even, except that
        the money of split statements is rounded per statement (module doc), within half a cent each."""
        return round_total(self.approved_exact) if self.booked_cents is None else cents_amount(self.booked_cents)

    @property
    def debit_total(self) -> Decimal:
        return cents_amount(sum(x.amount_cents for x in self.lines if x.side == "debit"))

    @property
    def credit_total(self) -> Decimal:
        return cents_amount(sum(x.amount_cents for x in self.lines if x.side == "credit"))

    @property
    def line_count(self) -> int:
        return len(self.lines) if self.format == "gl" else len(self.rows)


# ------------------------------------------------------------------------------------------------
# The gl journal
# ------------------------------------------------------------------------------------------------


def _money(amount: Decimal, settings: OcbSettings) -> str:
    return format_money(amount, settings.currency.symbol)


def build_gl_journal(groups: Iterable[ChargeGroup], settings: OcbSettings, period: str) -> Journal:
    """The balanced gl journal of the month, or JournalRefused listing every culprit."""
    groups = list(groups)
    cfg = settings.journal
    problems = description_problems(settings)
    component_names = tuple(dict.fromkeys([*COMPONENTS, *fund_regex_groups(cfg.fund_org_regex)]))

    # Culprits are collected per distinct cause (value, source) with their charge count and money.
    culprits: dict[tuple[str, ...], list[Any]] = defaultdict(lambda: [0, Decimal(0)])

    def culprit(*key: str, group: ChargeGroup, money: Decimal | None = None) -> None:
        culprits[key][0] += group.charges
        culprits[key][1] += group.billed if money is None else money

    # Pre-lines: the PI lines of the money without a split; a split project's money is gathered per statement
    # (PI, project) and allocated by pricing.shares.allocate_split (see the module doc).
    pi_lines: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}  # ..., reference, origin month
    statements: dict[tuple[str, str], list[tuple[ChargeGroup, str, str]]] = defaultdict(list)
    for g in groups:
        fund_org = (g.fund_org or "").strip()
        account, origin = resolve_account(g.account_code, settings, g.source)
        bad = False
        if g.funds:
            for fund, share in g.shares():
                if parse_fund_org(fund, cfg.fund_org_regex) is None:
                    culprit("bad_split_fund", fund, (g.project_id or "").strip(), g.source, group=g, money=share)
                    bad = True
        elif not fund_org:
            culprit("no_fund", g.source, g.pi_email or "", group=g)
            bad = True
        elif parse_fund_org(fund_org, cfg.fund_org_regex) is None:
            culprit("bad_fund", fund_org, g.source, group=g)
            bad = True
        if not account:
            culprit("no_account", g.source, group=g)
            bad = True
        elif not account_ok(account, cfg.account_code_regex):
            culprit("bad_account", account, origin, g.source, group=g)
            bad = True
        if bad:
            continue
        if g.allocation_line() is not None:  # keyed like its statement (statements/lines.py group_lines)
            statements[((g.pi_email or "").strip(" "), (g.project_id or "").strip(" "))].append((g, account, origin))
            continue
        key = (g.source, fund_org, account, (g.reference or "").strip(), g.origin_month)
        entry = pi_lines.setdefault(key, {"exact": Decimal(0), "charges": 0, "pis": set(), "projects": set(),
                                          "origin": origin})
        entry["exact"] += g.billed
        entry["charges"] += g.charges
        if g.pi_email:
            entry["pis"].add(g.pi_email)
        if g.project_id:
            entry["projects"].add(g.project_id)

    source_funds: dict[str, dict[str, str]] = {}
    for source in sorted({g.source for g in groups}):
        known = settings.source(source)
        if known is None:
            problems.append(f"source {source!r} is not in imports.known_sources: add it with the fund_org to credit "
                            f"(its recoveries) and an account_code")
        elif not known.fund_org.strip():
            problems.append(f"source {source!r} has no fund_org in imports.known_sources: its credit line would be "
                            f"missing and the journal would not balance")
        else:
            parsed = parse_fund_org(known.fund_org, cfg.fund_org_regex)
            if parsed is None:
                problems.append(f"source {source!r}: fund_org {known.fund_org!r} (imports.known_sources) does not "
                                f"match journal.fund_org_regex {cfg.fund_org_regex!r}")
            else:
                source_funds[source] = parsed

    for key, (count, money) in sorted(culprits.items()):
        what = f"{count} charge(s), {_money(money, settings)}"
        kind = key[0]
        if kind == "no_fund":
            who = f" (PI {key[2]})" if key[2] else ""
            problems.append(f"source {key[1]!r}: {what}{who} have no fund_org; correct them "
                            f"(`ocb review correct --set-fund ...` after reopening the month)")
        elif kind == "bad_fund":
            problems.append(f"fund_org {key[1]!r} (source {key[2]!r}, {what}) does not match journal.fund_org_regex "
                            f"{cfg.fund_org_regex!r}")
        elif kind == "bad_split_fund":
            problems.append(f"fund_org {key[1]!r} of project {key[2]!r}'s split in funding.splits_file (source "
                            f"{key[3]!r}, {what} its share) does not match journal.fund_org_regex "
                            f"{cfg.fund_org_regex!r}")
        elif kind == "no_account":
            problems.append(f"source {key[1]!r}: {what} have no account: set an account_code tag, "
                            f"imports.known_sources[{key[1]}].account_code or journal.default_account")
        else:
            problems.append(f"account {key[1]!r} (from the {'charge tag' if key[2] == 'tag' else key[2] + ' account'}"
                            f", source {key[3]!r}, {what}) does not match journal.account_code_regex "
                            f"{cfg.account_code_regex!r}")
    if not groups:
        problems.append(f"no approved charges in {period}: nothing to export")
    if problems:
        raise JournalRefused(period, problems)

    keys = sorted(pi_lines)
    cents = allocate_cents([pi_lines[k]["exact"] for k in keys])
    lines: list[JournalLine] = []
    by_source_account: dict[tuple[str, str, str], dict[str, Any]] = {}  # (source, account, origin month)
    # the PI lines: (source, fund, account, reference, origin month)
    booked: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}

    def add(target: dict[str, Any], amount: int, exact: Decimal, entry: dict[str, Any]) -> None:
        target["cents"] += amount
        target["exact"] += exact
        target["charges"] += entry["charges"]
        target["pis"] |= entry["pis"]
        target["projects"] |= entry["projects"]

    def to_source(source: str, account: str, origin: str, amount: int, exact: Decimal,
                  entry: dict[str, Any]) -> None:
        add(by_source_account.setdefault((source, account, origin), {"cents": 0, "exact": Decimal(0), "charges": 0,
                                                             "pis": set(), "projects": set()}),
            amount, exact, entry)

    def to_fund(key: tuple[str, str, str, str, str], amount: int, exact: Decimal, entry: dict[str, Any]) -> None:
        add(booked.setdefault(key, {"cents": 0, "exact": Decimal(0), "charges": 0, "pis": set(), "projects": set(),
                                    "origin": entry["origin"]}),
            amount, exact, entry)

    for key, amount in zip(keys, cents, strict=True):
        to_source(key[0], key[2], key[4], amount, pi_lines[key]["exact"], pi_lines[key])
        to_fund(key, amount, pi_lines[key]["exact"], pi_lines[key])
    booked_cents = sum(cents)
    for unit in sorted(statements):
        members = statements[unit]
        split = next((list(g.funds) for g, _, _ in members if g.funds), [])
        # per (allocation line, corrected fund or None): where it is on the journal, its money, who is behind it
        parts_of: dict[tuple[LineKey, str | None], dict[str, Any]] = {}
        money: list[tuple[LineKey, str | None, Decimal]] = []
        for g, account, origin in members:
            line_key = g.allocation_line()
            assert line_key is not None
            corrected = None if g.funds else (g.fund_org or "").strip()
            money.append((line_key, corrected, g.billed))
            entry = parts_of.setdefault((line_key, corrected), {
                "where": (g.source, account, (g.reference or "").strip(), g.origin_month), "origin": origin,
                "cents": 0,
                "exact": Decimal(0), "charges": 0, "pis": set(), "projects": set(), "parts": []})
            entry["exact"] += g.billed
            entry["charges"] += g.charges
            if g.pi_email:
                entry["pis"].add(g.pi_email)
            if g.project_id:
                entry["projects"].add(g.project_id)
        for part in allocate_split(money, split):
            entry = parts_of[(part.line, None if part.shared else part.fund_org)]
            entry["cents"] += int(part.cents.scaleb(2))
            entry["parts"].append(part)
        for entry in parts_of.values():
            source, account, reference, origin_month = entry["where"]
            to_source(source, account, origin_month, entry["cents"], entry["exact"], entry)
            booked_cents += entry["cents"]
            for part in entry["parts"]:
                part_cents = int(part.cents.scaleb(2))
                if not part_cents and part.shared:
                    continue  # a split fund whose share rounds to nothing gets no line (and is not named on one)
                to_fund((source, part.fund_org, account, reference, origin_month), part_cents, part.exact, entry)
    for (source, fund_org, account, reference, origin), entry in sorted(booked.items()):
        amount = entry["cents"]
        if amount == 0:
            continue
        pis, projects = tuple(sorted(entry["pis"])), tuple(sorted(entry["projects"]))
        lines.append(JournalLine(
            side="debit" if amount > 0 else "credit", party="pi", source=source, fund_org=fund_org,
            components=parse_fund_org(fund_org, cfg.fund_org_regex) or {}, account=account,
            account_origin=entry["origin"], amount_cents=abs(amount), exact=entry["exact"],
            description=naming_origin(origin, cfg.description_max_length, describe(
                cfg.debit_description, cfg.description_max_length, source=source, period=period, fund_org=fund_org,
                pi_email=several(pis, "PIs"), project_id=several(projects, "projects"), reference_id=reference,
                account=account)),
            reference_id=reference, pi_emails=pis, project_ids=projects, charges=entry["charges"],
            origin_month=origin,
        ))  # fmt: skip
    for (source, account, origin), agg in sorted(by_source_account.items()):
        if agg["cents"] == 0:
            continue
        fund_org = settings.source(source).fund_org.strip()  # type: ignore[union-attr]
        pis, projects = tuple(sorted(agg["pis"])), tuple(sorted(agg["projects"]))
        lines.append(JournalLine(
            side="credit" if agg["cents"] > 0 else "debit", party="source", source=source, fund_org=fund_org,
            components=source_funds[source], account=account, account_origin="pi lines",
            amount_cents=abs(agg["cents"]), exact=-agg["exact"],
            description=naming_origin(origin, cfg.description_max_length, describe(
                cfg.credit_description, cfg.description_max_length, source=source, period=period, fund_org=fund_org,
                pi_email=several(pis, "PIs"), project_id=several(projects, "projects"), reference_id="",
                account=account)),
            reference_id="", pi_emails=pis, project_ids=projects, charges=agg["charges"], origin_month=origin,
        ))  # fmt: skip
    approved = sum((g.billed for g in groups), Decimal(0))
    journal = Journal(period, "gl", lines, approved, sum(g.charges for g in groups), component_names,
                      booked_cents=booked_cents if statements else None)
    check_balanced(journal)
    return journal


def check_balanced(journal: Journal) -> None:
    """The invariant, re-checked on the finished lines (a bug here must never reach a file)."""
    net_pi = sum((x.amount_cents if x.side == "debit" else -x.amount_cents) for x in journal.lines if x.party == "pi")
    problems = []
    if journal.debit_total != journal.credit_total:
        problems.append(f"debits {journal.debit_total} != credits {journal.credit_total}")
    if cents_amount(net_pi) != journal.approved_total:
        problems.append(f"PI lines net {cents_amount(net_pi)} != approved total {journal.approved_total}")
    if problems:
        raise JournalRefused(journal.period, problems)
