"""Split funding: a project's approved money shared between funds by percentage (no Dagster).

The splits file (`funding.splits_file`) is a CSV finance edits in a spreadsheet:

    project_id,fund_org,percent,valid_from
    proj-a,ABC-123456,60,2025-01-01
    proj-a,XYZ-654321,40,2025-01-01

Each (project_id, valid_from) is one split: its percents add up to exactly 100 and name a fund once. The split in
force for a billing month is the project's latest valid_from on or before the month's first day. A charge whose fund
a reviewer corrected keeps that fund (`FUND_CORRECTED_SQL`): a person decided where that charge goes.

One allocation, `allocate_split`, decides what each fund pays for a statement (PI, project) of a split project, and
both the statement and the GL journal call it, so a statement always tells each fund what the journal debits it:
the statement's money per line (`split_line_key`: source, account tag, references and, for an adjustment to a
closed month, that month: finer than any journal line)
and per corrected fund is rounded to whole cents by largest remainder (adding up to the statement's total rounded
half-even to the cent), then each line's cents of the split's money are shared with `split_exactly`. A fund's
amount on the statement is the sum of its parts; the journal books each part on its (fund, source, account,
reference) line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

from ocb_pipelines.pricing.files import CsvLine, PricingFileError, read_csv_lines

COLUMNS = ("project_id", "fund_org", "percent", "valid_from")
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
MAX_PERCENT_PLACES = 4

# True for a charges_approved row whose fund_org a reviewer set with a correction (the decision gave a new fund;
# a correction of the PI or project alone leaves the fund to the split). Used as a column expression over
# charges_approved, whose decision_id is the effective decision.
FUND_CORRECTED_SQL = (
    "coalesce(review_status = 'corrected' AND decision_id IN "
    "(SELECT decision_id FROM review_decisions WHERE decision = 'correct' AND fund_org IS NOT NULL), FALSE)"
)


@dataclass(frozen=True)
class SplitLine:
    """One fund's share of a project's money from a date on."""

    line: int
    project_id: str
    fund_org: str
    percent: Decimal
    valid_from: date


Split = list[tuple[str, Decimal]]  # (fund_org, percent) in the file's order; the percents add up to 100


def _percent(row: CsvLine) -> Decimal:
    value = row.number("percent")
    if not 0 < value <= HUNDRED:
        raise row.refuse("percent", "must be more than 0 and at most 100")
    if -value.normalize().as_tuple().exponent > MAX_PERCENT_PLACES:  # type: ignore[operator]
        raise row.refuse("percent", f"has more than {MAX_PERCENT_PLACES} decimals")
    return value


def read_splits(path: str | Path) -> list[SplitLine]:
    """The splits file's lines, checked: every percent in (0, 100] with at most 4 decimals, each split's percents
    adding up to exactly 100, no fund twice in one split. PricingFileError names the file, line, column, value."""
    path = Path(path)
    lines = [SplitLine(row.line, row.text("project_id"), row.text("fund_org"), _percent(row), row.day("valid_from"))
             for row in read_csv_lines(path, COLUMNS)]
    splits: dict[tuple[str, date], list[SplitLine]] = {}
    for s in lines:
        split = splits.setdefault((s.project_id, s.valid_from), [])
        twice = next((o for o in split if o.fund_org.casefold() == s.fund_org.casefold()), None)
        if twice is not None:
            raise PricingFileError(f"{path.name} line {s.line}, column fund_org: {s.fund_org!r} is already in project "
                                   f"{s.project_id}'s split from {s.valid_from} (line {twice.line})")
        split.append(s)
    for (project, valid_from), split in splits.items():
        total = sum((s.percent for s in split), Decimal(0))
        if total != HUNDRED:
            where = ", ".join(str(s.line) for s in split)
            raise PricingFileError(f"{path.name} lines {where}: project {project}'s split from {valid_from} adds up "
                                   f"to {total}%, not 100%")
    return lines


def month_start(month: str | date) -> date:
    """The first day of a billing month given as 'YYYY-MM' (or any date in it)."""
    if isinstance(month, date):
        return month.replace(day=1)
    year, _, mon = month.partition("-")
    return date(int(year), int(mon), 1)


def splits_in_force(lines: Iterable[SplitLine], month: str | date) -> dict[str, Split]:
    """project_id -> [(fund_org, percent)] of the split in force for the month: the latest valid_from on or before
    the month's first day (a project whose splits all start later has none)."""
    first = month_start(month)
    lines = list(lines)
    latest: dict[str, date] = {}
    for s in lines:
        if s.valid_from <= first and s.valid_from > latest.get(s.project_id, date.min):
            latest[s.project_id] = s.valid_from
    out: dict[str, Split] = {}
    for s in lines:
        if latest.get(s.project_id) == s.valid_from:
            out.setdefault(s.project_id, []).append((s.fund_org, s.percent))
    return out


def load_splits(path: Path | None, month: str | date) -> dict[str, Split]:
    """The splits in force for the month from `funding.splits_file` (none when it is not set)."""
    return {} if path is None else splits_in_force(read_splits(path), month)


def split_exactly(amount: Decimal, percents: Sequence[Decimal]) -> list[Decimal]:
    """The amount (rounded half-even to the cent) in whole-cent parts by the percents, by largest remainder
    (Hamilton): each exact share is floored to the cent and the cents left over go one by one to the largest
    remainders, ties to the earlier part. The parts add up to the rounded amount exactly. A negative amount (a
    credit) is split as its opposite, negated, so a charge and its refund split alike."""
    if not percents:
        raise ValueError("a split needs at least one share")
    if any(p <= 0 for p in percents) or sum(percents, Decimal(0)) != HUNDRED:
        raise ValueError(f"split percents must be positive and add up to 100, not {list(percents)}")
    cents = int(Decimal(amount).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    sign, whole = (-1 if cents < 0 else 1), abs(cents)
    exact = [Fraction(whole) * Fraction(p) / 100 for p in percents]
    parts = [e.numerator // e.denominator for e in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: whole - sum(parts)]:
        parts[i] += 1
    return [(Decimal(sign * p) * CENT).quantize(CENT) for p in parts]


def cents_keeping_total(amounts: Sequence[Decimal]) -> list[Decimal]:
    """Each amount in whole cents such that they add up to their total rounded half-even to the cent (largest
    remainder: floor each, the missing cents to the largest remainders, ties to the earlier one)."""
    scaled = [Decimal(a).scaleb(2) for a in amounts]
    floors = [int(s.to_integral_value(rounding=ROUND_FLOOR)) for s in scaled]
    total = int(sum(scaled, Decimal(0)).to_integral_value(rounding=ROUND_HALF_EVEN))
    order = sorted(range(len(scaled)), key=lambda i: (-(scaled[i] - floors[i]), i))
    for i in order[: total - sum(floors)]:
        floors[i] += 1
    return [(Decimal(f) * CENT).quantize(CENT) for f in floors]


# (source, account_code, reference_1, reference_2, origin month) of a split statement's money
LineKey = tuple[str, str, str, str, str]


def split_line_key(source: object, account_code: object, reference_1: object, reference_2: object,
                   origin_month: object = "") -> LineKey:
    """The line of a split statement's money a charge belongs to: every column the GL journal may group on (its
    account comes from the account tag and source, its reference id from reference_1 or reference_2, and an
    adjustment to a closed month is booked on lines of its own naming that month), so each journal line is a sum
    of whole lines. Raw values, NULL as ''; statements and the journal use the same ones."""
    return ("" if source is None else str(source), "" if account_code is None else str(account_code),
            "" if reference_1 is None else str(reference_1), "" if reference_2 is None else str(reference_2),
            "" if origin_month is None else str(origin_month))


@dataclass(frozen=True)
class SplitPart:
    """A fund's part of one line of a split statement's money: whole cents, and its exact amount before rounding."""

    line: LineKey
    fund_org: str
    cents: Decimal  # whole cents (two places)
    exact: Decimal
    shared: bool  # True: a share of the split; False: money whose fund a reviewer corrected


def exact_shares(amount: Decimal, percents: Sequence[Decimal]) -> list[Decimal]:
    """amount x percent / 100 for each percent, unrounded."""
    with localcontext() as ctx:
        ctx.prec = 60  # an amount (38 digits) x a percent (4 decimals) / 100 stays exact
        return [Decimal(amount) * p / HUNDRED for p in percents]


def allocate_split(money: Iterable[tuple[LineKey, str | None, Decimal]], split: Split) -> list[SplitPart]:
    """What each fund pays for ONE statement (PI, project) of a project with a funding split in force: the one rule
    statements and the GL journal share (module doc). `money`: (line key, corrected fund or None for the split's
    money, amount), in any order and grouping. The (corrected fund, line) totals are rounded to whole cents by
    largest remainder in a fixed order (the split's money first, then by fund and line), so they add up to the
    statement's total rounded half-even; each line's cents of the split's money are shared with `split_exactly`
    (every fund of the split gets a part, possibly 0.00). The parts add up to the rounded total exactly."""
    totals: dict[tuple[str | None, LineKey], Decimal] = {}
    for line, fund, amount in money:
        totals[(fund, line)] = totals.get((fund, line), Decimal(0)) + Decimal(amount)
    keys = sorted(totals, key=lambda k: (k[0] is not None, k[0] or "", k[1]))
    percents = [p for _, p in split]
    parts: list[SplitPart] = []
    for (fund, line), cents in zip(keys, cents_keeping_total([totals[k] for k in keys]), strict=True):
        if fund is not None:
            parts.append(SplitPart(line, fund, cents, totals[(fund, line)], False))
            continue
        for (split_fund, _), part, exact in zip(split, split_exactly(cents, percents),
                                                exact_shares(totals[(fund, line)], percents), strict=True):
            parts.append(SplitPart(line, split_fund, part, exact, True))
    return parts
