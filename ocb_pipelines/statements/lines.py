"""From approved charges to statements: one per (billing month, PI, project), in exact Decimals (no Dagster).

The month's approved charges are read once (sorted, money as DECIMAL -> Python Decimal, never float)
and grouped in Python into `Statement` objects holding everything a PDF and its CSV show:

* list price, discount or subsidy, billed amount and discount % (OpenChargeback's rules: a NULL list
  price means list = billed, so no discount; discount % = (list - billed) / list when list > 0);
* a fund share per fund_org the project's charges carry (not the first charge's fund): amounts are
  exact, percentages are rounded to 0.01 by largest remainder so they always add up to 100.00;
* or, for a project with a funding split in force, the split's funds (and corrected funds) with the amounts of
  pricing.shares.allocate_split, the rule the GL journal books by: whole cents adding up to the billed total
  rounded to the cent, each fund exactly what the journal debits it for this statement;
* charges by service, the largest resources, credits (negative lines) kept apart from charges;
* `content_sha256`: a hash of the statement's input lines (and what else shapes the PDF), the key of
  incremental rendering and of "never send the same content twice".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import duckdb

from ocb_pipelines.pricing.shares import FUND_CORRECTED_SQL, Split, allocate_split, split_line_key
from ocb_pipelines.statements.adjustments import AdjustmentLine, LineKey, Origin, adjustment_lines
from ocb_pipelines.warehouse.schema.adjustments import APPROVED_WITH_ORIGIN

NO_PROJECT = "(no project)"
NO_FUND = "(no fund)"
NO_SERVICE = "Other"
TOP_RESOURCES = 8
PCT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)

# The columns of a statement line, in CSV order. Lineage (file, sha256, row) is kept for every line.
LINE_COLUMNS = (
    "charge_id", "charge_period_start", "charge_period_end", "source", "provider", "service_name",
    "service_category", "charge_category", "charge_description", "resource_id", "resource_name", "region",
    "sku_id", "pricing_quantity", "pricing_unit", "list_cost", "billed_cost", "billing_currency", "fund_org",
    "cost_center", "reference_1", "reference_2", "review_status", "file_name", "file_sha256", "file_row_number",
)  # fmt: skip
_KEY_COLUMNS = ("pi_email", "project_id")
FUND_CORRECTED = "fund_corrected"  # a reviewer set this charge's fund: a funding split leaves it there
ACCOUNT_CODE = "account_code"  # a split's money is allocated per journal line, whose account the tag decides
# The closed month an adjustment line corrects ('' for the month's own charges): its own journal lines, so its own
# lines of a split's allocation too.
ORIGIN_MONTH = "origin_month"

LINES_SQL = f"""
SELECT {", ".join(_KEY_COLUMNS)}, {{corrected}} AS {FUND_CORRECTED}, {ACCOUNT_CODE}, {ORIGIN_MONTH},
    {", ".join(LINE_COLUMNS)}
FROM ({APPROVED_WITH_ORIGIN})
WHERE billing_month = ?
ORDER BY pi_email NULLS FIRST, project_id NULLS FIRST, charge_id
"""  # {corrected}: FUND_CORRECTED_SQL when a split is in force, else FALSE (no look-up of the decisions)


@dataclass(frozen=True)
class FundShare:
    fund_org: str
    list_total: Decimal
    billed_total: Decimal
    percent: Decimal  # of the statement's billed total, 2 decimals; a project's shares add up to 100.00
    lines: int


@dataclass(frozen=True)
class Breakdown:
    """One row of a summary table (a service, or a resource)."""

    label: str
    detail: str
    list_total: Decimal
    billed_total: Decimal
    lines: int

    @property
    def discount(self) -> Decimal:
        return self.list_total - self.billed_total

    @property
    def discount_percent(self) -> Decimal:
        return discount_percent(self.list_total, self.billed_total)


@dataclass
class Statement:
    billing_month: str
    pi_email: str | None
    project_id: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    funds: list[FundShare] = field(default_factory=list)
    services: list[Breakdown] = field(default_factory=list)
    top_resources: list[Breakdown] = field(default_factory=list)
    references_1: list[str] = field(default_factory=list)
    references_2: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    list_total: Decimal = ZERO
    billed_total: Decimal = ZERO
    charges_total: Decimal = ZERO  # positive billed lines
    credits_total: Decimal = ZERO  # negative billed lines (credits, refunds), a negative number
    credit_lines: int = 0
    first_charge: datetime | None = None
    last_charge: datetime | None = None
    content_sha256: str = ""
    split: Split = field(default_factory=list)  # the project's funding split in force: [(fund_org, percent)]
    # The PI x project's recent months (statements/pi_history.HistoryMonth, oldest first) and the lines that adjust
    # earlier months (statements/adjustments.py): both printed, both part of the content hash.
    history: list[Any] = field(default_factory=list)
    adjustments: list[AdjustmentLine] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.billing_month, self.pi_email, self.project_id)

    @property
    def discount_total(self) -> Decimal:
        return self.list_total - self.billed_total

    @property
    def discount_percent(self) -> Decimal:
        return discount_percent(self.list_total, self.billed_total)

    @property
    def line_count(self) -> int:
        return len(self.lines)

    @property
    def funds_total(self) -> Decimal:
        """What the fund shares add up to: the billed total, in whole cents when a funding split shares it."""
        return self.billed_total.quantize(PCT, rounding=ROUND_HALF_EVEN) if self.split else self.billed_total


def discount_percent(list_total: Decimal, billed_total: Decimal) -> Decimal:
    """(list - billed) / list x 100, to 0.1; 0 when there is no positive list price."""
    if list_total <= 0:
        return ZERO
    return ((list_total - billed_total) / list_total * HUNDRED).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def effective_list(list_cost: Decimal | None, billed_cost: Decimal) -> Decimal:
    """No list price means no discount: list = billed."""
    return billed_cost if list_cost is None else list_cost


def fund_percentages(amounts: Sequence[Decimal]) -> list[Decimal]:
    """Shares of a total in percent (0.01), by largest remainder so they add up to exactly 100.00.

    Weights are the amounts; when they add up to zero (credits cancel charges) the absolute amounts
    are used, and when all are zero the first fund gets 100.
    """
    if not amounts:
        return []
    total = sum(amounts, ZERO)
    weights = list(amounts)
    if total == 0:
        weights = [abs(a) for a in amounts]
        total = sum(weights, ZERO)
    if total == 0:
        return [HUNDRED.quantize(PCT)] + [ZERO.quantize(PCT)] * (len(amounts) - 1)
    units = 10_000  # hundredths of a percent
    exact = [w * units / total for w in weights]
    floors = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
    remainder = units - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: max(remainder, 0)]:
        floors[i] += 1
    return [(Decimal(f) / 100).quantize(PCT) for f in floors]


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def content_hash(statement: Statement, context: Iterable[str] = ()) -> str:
    """sha256 of the statement's identity, its input lines (sorted by charge id) and render context."""
    digest = hashlib.sha256()
    for part in (*context, statement.billing_month, _canonical(statement.pi_email), statement.project_id):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x1f")
    # A split (and which charges keep a corrected fund) shapes the fund shares; without one the hash is as before.
    split = [f"split {fund}={_canonical(percent)}" for fund, percent in statement.split]
    for part in split:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x1f")
    for line in statement.lines:
        digest.update("\x1e".join(_canonical(line[c]) for c in LINE_COLUMNS).encode("utf-8", "surrogatepass"))
        if split:  # the account tag decides the split's journal lines, so their cents
            digest.update(b"\x1e" + _canonical(line.get(ACCOUNT_CODE)).encode("utf-8", "surrogatepass"))
            if line.get(FUND_CORRECTED):
                digest.update(b"\x1e" + FUND_CORRECTED.encode())
            if line.get(ORIGIN_MONTH):  # an adjustment's own lines of the allocation (none: as before)
                digest.update(b"\x1e" + f"{ORIGIN_MONTH} {line[ORIGIN_MONTH]}".encode("utf-8", "surrogatepass"))
        digest.update(b"\x1d")
    for item in (*statement.history, *statement.adjustments):  # none: the hash is as before them
        digest.update(item.hash_text().encode("utf-8", "surrogatepass") + b"\x1c")
    return digest.hexdigest()


def _split_funds(statement: Statement) -> list[FundShare]:
    """The fund shares of a statement with a funding split, by pricing.shares.allocate_split (the GL journal's
    rule): the money of charges whose fund a reviewer corrected stays on that fund, the rest is shared by the
    split line by line (journal lines), so each fund's amount is what the journal debits it for this statement.
    The list price is allocated by the same rule. Percentages: the split's own when it shares everything, else
    each fund's part of the billed total."""
    billed_money: list[tuple] = []
    list_money: list[tuple] = []
    counts: dict[str | None, int] = {}  # a corrected fund -> its lines; None: the split's lines
    for line in statement.lines:
        billed = line["billed_cost"]
        fund = ((line["fund_org"] or "").strip() or NO_FUND) if line.get(FUND_CORRECTED) else None
        key = split_line_key(line["source"], line.get(ACCOUNT_CODE), line["reference_1"], line["reference_2"],
                             line.get(ORIGIN_MONTH))
        billed_money.append((key, fund, billed))
        list_money.append((key, fund, effective_list(line["list_cost"], billed)))
        counts[fund] = counts.get(fund, 0) + 1
    funds: dict[str, list] = {}  # fund -> [list, billed, lines]
    for index, money in ((0, list_money), (1, billed_money)):
        for part in allocate_split(money, statement.split):
            funds.setdefault(part.fund_org, [ZERO, ZERO, 0])[index] += part.cents
    shared = {fund for fund, _ in statement.split} if None in counts else set()
    for fund, acc in funds.items():
        acc[2] = (counts[None] if fund in shared else 0) + counts.get(fund, 0)
    names = sorted(funds, key=lambda f: (-funds[f][1], f))
    weights = dict(statement.split) if list(counts) == [None] else {f: funds[f][1] for f in names}
    shares = fund_percentages([weights[f] for f in names])
    return [FundShare(f, funds[f][0], funds[f][1], p, funds[f][2]) for f, p in zip(names, shares, strict=True)]


def _finish(statement: Statement, top: int) -> Statement:
    funds: dict[str, list] = {}
    services: dict[str, list] = {}
    resources: dict[tuple[str, str], list] = {}
    refs1: dict[str, None] = {}
    refs2: dict[str, None] = {}
    sources: dict[str, None] = {}
    currencies: dict[str, None] = {}
    list_total = billed_total = charges = credits = ZERO
    credit_lines = 0
    first = last = None
    for line in statement.lines:
        billed = line["billed_cost"]
        listed = effective_list(line["list_cost"], billed)
        list_total += listed
        billed_total += billed
        if billed < 0:
            credits += billed
            credit_lines += 1
        else:
            charges += billed
        fund = (line["fund_org"] or "").strip() or NO_FUND
        service = (line["service_name"] or "").strip() or NO_SERVICE
        resource = (line["resource_name"] or "").strip() or (line["resource_id"] or "").strip() or "(unnamed)"
        for bucket, key in ((funds, fund), (services, service), (resources, (resource, service))):
            acc = bucket.setdefault(key, [ZERO, ZERO, 0])
            acc[0] += listed
            acc[1] += billed
            acc[2] += 1
        for target, value in ((refs1, line["reference_1"]), (refs2, line["reference_2"]), (sources, line["source"]),
                              (currencies, line["billing_currency"])):
            if value and str(value).strip():
                target[str(value).strip()] = None
        start = line["charge_period_start"]
        if start is not None:
            first = start if first is None or start < first else first
            last = start if last is None or start > last else last
    if statement.split:
        statement.funds = _split_funds(statement)
    else:
        fund_names = sorted(funds, key=lambda f: (-funds[f][1], f))
        percents = fund_percentages([funds[f][1] for f in fund_names])
        statement.funds = [FundShare(f, funds[f][0], funds[f][1], p, funds[f][2])
                           for f, p in zip(fund_names, percents, strict=True)]
    statement.services = [Breakdown(s, "", v[0], v[1], v[2])
                          for s, v in sorted(services.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    ranked = sorted(resources.items(), key=lambda kv: (-kv[1][1], kv[0]))
    statement.top_resources = [Breakdown(r, s, v[0], v[1], v[2]) for (r, s), v in ranked[:top]]
    statement.references_1 = sorted(refs1)
    statement.references_2 = sorted(refs2)
    statement.sources = sorted(sources)
    statement.currencies = sorted(currencies)
    statement.list_total, statement.billed_total = list_total, billed_total
    statement.charges_total, statement.credits_total, statement.credit_lines = charges, credits, credit_lines
    statement.first_charge, statement.last_charge = first, last
    return statement


def group_lines(month: str, rows: Iterable[Sequence[Any]], *, top: int = TOP_RESOURCES,
                context: Iterable[str] = (), splits: Mapping[str, Split] | None = None,
                history: Mapping[tuple, Sequence[Any]] | None = None,
                origins: Mapping[LineKey, Origin] | None = None) -> list[Statement]:
    """Rows of LINES_SQL (sorted by PI, project) -> one Statement per (PI, project), with content hashes.
    `splits`: the funding splits in force for the month by project_id (pricing.shares.splits_in_force);
    `history`: each (PI, project)'s recent months (pi_history.statement_history); `origins`: the month's adjustment
    lines by line key (adjustments.month_origins)."""
    context = tuple(context)
    splits = splits or {}
    statements: list[Statement] = []
    current: Statement | None = None
    names = (*_KEY_COLUMNS, FUND_CORRECTED, ACCOUNT_CODE, ORIGIN_MONTH, *LINE_COLUMNS)
    for row in rows:
        record = dict(zip(names, row, strict=True))
        pi = record.pop("pi_email")
        # strip(" ") like SQL trim() in approved_totals: "\t=1" and "\r=1" are two projects, not one
        pi = pi.strip(" ") if isinstance(pi, str) else pi
        project = (record.pop("project_id") or "").strip(" ") or NO_PROJECT
        if current is None or current.pi_email != pi or current.project_id != project:
            current = Statement(month, pi or None, project)
            statements.append(current)
        current.lines.append(record)
    merged: dict[tuple, Statement] = {}
    for s in statements:  # values that differ only by surrounding spaces land in one statement
        if s.key in merged:
            merged[s.key].lines.extend(s.lines)
        else:
            merged[s.key] = s
    out = []
    for s in merged.values():
        s.lines.sort(key=lambda line: line["charge_id"])
        if s.project_id != NO_PROJECT:
            s.split = list(splits.get(s.project_id, []))
        _finish(s, top)
        s.history = list((history or {}).get((s.pi_email, s.project_id), ()))
        s.adjustments = adjustment_lines(s.lines, origins or {})
        s.content_sha256 = content_hash(s, context)
        out.append(s)
    return sorted(out, key=lambda s: (s.pi_email or "", s.project_id))


def load_statements(con: duckdb.DuckDBPyConnection, month: str, *, top: int = TOP_RESOURCES,
                    context: Iterable[str] = (), splits: Mapping[str, Split] | None = None,
                    history: Mapping[tuple, Sequence[Any]] | None = None,
                    origins: Mapping[LineKey, Origin] | None = None) -> list[Statement]:
    """The month's statements from charges_approved (read in one query, fully fetched), funds shared by `splits`,
    with their `history` and adjustment lines (`origins`) when given."""
    corrected = FUND_CORRECTED_SQL if splits else "FALSE"
    rows = con.execute(LINES_SQL.format(corrected=corrected), [month]).fetchall()
    return group_lines(month, rows, top=top, context=context, splits=splits, history=history, origins=origins)


def approved_totals(con: duckdb.DuckDBPyConnection, month: str) -> dict[tuple[str | None, str], Decimal]:
    """Billed totals straight from charges_approved, keyed like statements: the gate's reference."""
    rows = con.execute(
        "SELECT nullif(trim(pi_email), '') AS pi, coalesce(nullif(trim(project_id), ''), ?) AS project, "
        "sum(billed_cost) FROM charges_approved WHERE billing_month = ? GROUP BY ALL",
        [NO_PROJECT, month],
    ).fetchall()
    return {(pi, project): Decimal(total) for pi, project, total in rows}


def month_approved_total(con: duckdb.DuckDBPyConnection, month: str) -> Decimal:
    return Decimal(con.execute(
        "SELECT coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = ?", [month]
    ).fetchall()[0][0])  # fmt: skip
