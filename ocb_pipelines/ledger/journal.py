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
(`ChargeGroup.funds`) are not booked to their tag's fund. Per project and journal group (source, account,
reference id) their net is rounded to cents with the other lines (largest remainder, as above), then shared
between the split's funds with `split_exactly` (whole cents by largest remainder, the parts adding up to that
net exactly), and each fund's part joins that fund's PI line. So the PI lines still sum to the rounded approved
total and each source's credit line is built as before. A charge whose fund a reviewer corrected is loaded
without a split and stays on its corrected fund. A fund of the split that does not match
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
from decimal import Decimal, localcontext
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
    parse_fund_org,
    resolve_account,
    round_total,
    several,
)
from ocb_pipelines.pricing.shares import split_exactly


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

    def shares(self) -> list[tuple[str, Decimal]]:
        """(fund_org, exact share of `billed`) for each fund of the split."""
        return exact_shares(self.billed, self.funds)


def exact_shares(amount: Decimal, funds: Sequence[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """(fund_org, amount x percent / 100) unrounded: what a split fund's line says it books before rounding."""
    with localcontext() as ctx:
        ctx.prec = 60  # an amount (38 digits) x a percent (4 decimals) / 100 stays exact
        return [(fund, amount * percent / 100) for fund, percent in funds]


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

    @property
    def approved_total(self) -> Decimal:
        return round_total(self.approved_exact)

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

    # Pre-lines: the PI lines, except that a split project's money is one line per (source, fund "", account,
    # reference, project), shared between the split's funds once rounded (see the module doc).
    pi_lines: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
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
        project = (g.project_id or "").strip() if g.funds else ""
        key = (g.source, "" if g.funds else fund_org, account, (g.reference or "").strip(), project)
        entry = pi_lines.setdefault(key, {"exact": Decimal(0), "charges": 0, "pis": set(), "projects": set(),
                                          "origin": origin, "funds": g.funds})
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
    by_source_account: dict[tuple[str, str], dict[str, Any]] = {}
    booked: dict[tuple[str, str, str, str], dict[str, Any]] = {}  # the PI lines: pre-lines, splits shared out
    for key, amount in zip(keys, cents, strict=True):
        source, fund_org, account, reference, _project = key
        entry = pi_lines[key]
        agg = by_source_account.setdefault((source, account), {"cents": 0, "exact": Decimal(0), "charges": 0,
                                                               "pis": set(), "projects": set()})
        agg["cents"] += amount
        agg["exact"] += entry["exact"]
        agg["charges"] += entry["charges"]
        agg["pis"] |= entry["pis"]
        agg["projects"] |= entry["projects"]
        if entry["funds"]:
            parts = split_exactly(cents_amount(amount), [p for _, p in entry["funds"]])
            shares = [(fund, int(part.scaleb(2)), exact)
                      for (fund, exact), part in zip(exact_shares(entry["exact"], entry["funds"]), parts, strict=True)]
        else:
            shares = [(fund_org, amount, entry["exact"])]
        for fund, part_cents, exact in shares:
            if not part_cents and entry["funds"]:
                continue  # a split fund whose share rounds to nothing gets no line (and is not named on one)
            line = booked.setdefault((source, fund, account, reference), {
                "cents": 0, "exact": Decimal(0), "charges": 0, "pis": set(), "projects": set(),
                "origin": entry["origin"]})
            line["cents"] += part_cents
            line["exact"] += exact
            line["charges"] += entry["charges"]
            line["pis"] |= entry["pis"]
            line["projects"] |= entry["projects"]
    for (source, fund_org, account, reference), entry in sorted(booked.items()):
        amount = entry["cents"]
        if amount == 0:
            continue
        pis, projects = tuple(sorted(entry["pis"])), tuple(sorted(entry["projects"]))
        lines.append(JournalLine(
            side="debit" if amount > 0 else "credit", party="pi", source=source, fund_org=fund_org,
            components=parse_fund_org(fund_org, cfg.fund_org_regex) or {}, account=account,
            account_origin=entry["origin"], amount_cents=abs(amount), exact=entry["exact"],
            description=describe(cfg.debit_description, cfg.description_max_length, source=source, period=period,
                                 fund_org=fund_org, pi_email=several(pis, "PIs"),
                                 project_id=several(projects, "projects"), reference_id=reference, account=account),
            reference_id=reference, pi_emails=pis, project_ids=projects, charges=entry["charges"],
        ))  # fmt: skip
    for (source, account), agg in sorted(by_source_account.items()):
        if agg["cents"] == 0:
            continue
        fund_org = settings.source(source).fund_org.strip()  # type: ignore[union-attr]
        pis, projects = tuple(sorted(agg["pis"])), tuple(sorted(agg["projects"]))
        lines.append(JournalLine(
            side="credit" if agg["cents"] > 0 else "debit", party="source", source=source, fund_org=fund_org,
            components=source_funds[source], account=account, account_origin="pi lines",
            amount_cents=abs(agg["cents"]), exact=-agg["exact"],
            description=describe(cfg.credit_description, cfg.description_max_length, source=source, period=period,
                                 fund_org=fund_org, pi_email=several(pis, "PIs"),
                                 project_id=several(projects, "projects"), reference_id="", account=account),
            reference_id="", pi_emails=pis, project_ids=projects, charges=agg["charges"],
        ))  # fmt: skip
    approved = sum((g.billed for g in groups), Decimal(0))
    journal = Journal(period, "gl", lines, approved, sum(g.charges for g in groups), component_names)
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
