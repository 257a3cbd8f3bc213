"""The pricing files finance edits in a spreadsheet: rates, fixed fees and Slurm accounts (no Dagster).

Each reader returns checked lines or raises PricingFileError naming the file, line, column and value, so a
mistake in a spreadsheet is refused before it prices a single charge. The rules (docs/pricing.md):
- CSV with a header line (names trimmed, case-insensitive); a UTF-8 BOM and CRLF line ends are accepted; blank
  lines are skipped; cells are trimmed; a missing required column, an unknown or repeated column is refused.
- Line numbers count the header as line 1. Dates are YYYY-MM-DD (valid_to inclusive); numbers are plain
  decimals (`12.50`, `0.0125`: no exponent, currency sign, thousands or decimal comma), read as Decimal.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path


class PricingFileError(ValueError):
    """A pricing file was refused; the message names the file, line, column and value."""


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_EVERY = {"monthly": 1, "quarterly": 3, "yearly": 12, "once": 0}  # months between two charges of a fee


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


@dataclass(frozen=True)
class RateLine:
    """One rate: a unit's list and billed price for a source and service, dated, optionally tiered and by group."""

    line: int
    source: str  # lower-cased, as sources are stored with every row
    service_name: str  # "*": any service (Slurm partition) without a line of its own
    unit: str
    list_unit_price: Decimal
    billed_unit_price: Decimal
    valid_from: date
    valid_to: date | None  # inclusive; None: open-ended
    tier_from: Decimal = Decimal(0)  # inclusive, in the unit, per project per month
    tier_to: Decimal | None = None  # exclusive; None: no end
    group: str = ""  # "": the default for any group without a line of its own


@dataclass(frozen=True)
class FeeLine:
    """A fixed recurring fee of a project (co-location, a support contract, an allocation)."""

    line: int
    project_id: str
    service_name: str
    amount: Decimal
    frequency: str  # monthly | quarterly | yearly | once
    valid_from: date
    valid_to: date | None  # inclusive
    source: str = "fees"  # lower-cased, as sources are stored with every row

    def bills_in(self, month: str) -> bool:
        """Whether billing month YYYY-MM has a charge of this fee: counted in months from valid_from's month
        (quarterly every 3rd, yearly every 12th, once only then), up to valid_to's month."""
        if not _MONTH.fullmatch(month):
            raise ValueError(f"month {month!r} is not YYYY-MM")
        if self.frequency not in _EVERY:
            raise ValueError(f"fee line {self.line}: frequency {self.frequency!r} is not one of {', '.join(_EVERY)}")
        index = int(month[:4]) * 12 + int(month[5:]) - 1
        first = _month_index(self.valid_from)
        if index < first or (self.valid_to is not None and index > _month_index(self.valid_to)):
            return False
        step = _EVERY[self.frequency]
        return index == first if step == 0 else (index - first) % step == 0


@dataclass(frozen=True)
class AccountLine:
    """A Slurm account (or storage project) and who pays for it."""

    line: int
    account: str
    pi_email: str
    project_id: str
    fund_org: str
    group: str = ""


RATE_COLUMNS = (("source", "service_name", "unit", "list_unit_price", "billed_unit_price", "valid_from"),
                ("valid_to", "tier_from", "tier_to", "group"))
FEE_COLUMNS = (("project_id", "service_name", "amount", "frequency", "valid_from"), ("valid_to", "source"))
ACCOUNT_COLUMNS = (("account", "pi_email", "project_id", "fund_org"), ("group",))

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SCALE = 12  # decimal places the warehouse keeps (MONEY is DECIMAL(38, 12)): more would be rounded silently
_DIGITS = 38 - _SCALE


@dataclass(frozen=True)
class CsvLine:
    """One data line of a pricing file: its cells by (lower-case) column, and how to refuse one of them."""

    file: str
    line: int
    cells: dict[str, str]

    def refuse(self, column: str, problem: str) -> PricingFileError:
        return PricingFileError(f"{self.file} line {self.line}, column {column}: {self.cells.get(column, '')!r} "
                                f"{problem}")

    def text(self, column: str, *, required: bool = True) -> str:
        value = self.cells.get(column, "")
        if required and not value:
            raise self.refuse(column, "is empty: a value is required")
        return value

    def number(self, column: str) -> Decimal:
        """A plain, non-negative decimal as written (never through a float)."""
        value = self.text(column)
        if not _DECIMAL.fullmatch(value):
            raise self.refuse(column, "is not a plain decimal number (like 12.50 or 0.0125: no currency sign, "
                                      "thousands separator, decimal comma or exponent)")
        number = Decimal(value)
        if number < 0:
            raise self.refuse(column, "is negative")
        places = -int(number.as_tuple().exponent)
        if places > _SCALE:
            raise self.refuse(column, f"has {places} decimal places; the warehouse keeps {_SCALE}")
        if len(value.split(".")[0].lstrip("-0")) > _DIGITS:
            raise self.refuse(column, f"is too large (at most {_DIGITS} digits before the decimal point)")
        return number

    def optional_number(self, column: str) -> Decimal | None:
        return self.number(column) if self.cells.get(column) else None

    def day(self, column: str) -> date:
        value = self.text(column)
        try:
            if _DATE.fullmatch(value):
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise self.refuse(column, "is not a date (YYYY-MM-DD)")

    def optional_day(self, column: str) -> date | None:
        return self.day(column) if self.cells.get(column) else None


def _header(name: str, line: int, cells: list[str], required: tuple[str, ...], optional: tuple[str, ...]) -> list[str]:
    columns = [cell.lower() for cell in cells]
    known = (*required, *optional)
    for index, column in enumerate(columns):
        if column and column not in known:
            raise PricingFileError(f"{name} line {line}, column {index + 1}: {cells[index]!r} is not a column of "
                                   f"this file (columns: {', '.join(known)})")
        if column and column in columns[:index]:
            raise PricingFileError(f"{name} line {line}, column {index + 1}: {cells[index]!r} is repeated")
    missing = [column for column in required if column not in columns]
    if missing:
        raise PricingFileError(f"{name} line {line}: missing column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)} (required: {', '.join(required)}; optional: "
                               f"{', '.join(optional)})")
    return columns


def _file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PricingFileError(f"{path.name}: file not found ({path})") from None
    except OSError as exc:
        raise PricingFileError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None


def file_sha256(path: str | Path) -> str:
    """The file's digest as bytes on disk: what a priced month records, so an edit shows which months it changes."""
    return hashlib.sha256(_file_bytes(Path(path))).hexdigest()


def read_csv_lines(path: str | Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[CsvLine]:
    """The data lines of a pricing CSV, cells trimmed, by lower-case column; refused with the culprit named."""
    path = Path(path)
    name, data = path.name, _file_bytes(path)
    data = data.removeprefix(codecs.BOM_UTF8)  # Excel's "CSV UTF-8" starts with one
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PricingFileError(f"{name} line {line}: byte {data[exc.start]:#04x} is not UTF-8 text: save the "
                               f"file as CSV UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    lines: list[CsvLine] = []
    end = 0
    try:
        for raw in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines: the line it starts on
            cells = [cell.strip() for cell in raw]
            if not any(cells):
                continue  # blank, or a spreadsheet's row of empty cells
            if header is None:
                header = _header(name, start, cells, required, optional)
                continue
            for index, cell in enumerate(cells):
                if cell and (index >= len(header) or not header[index]):
                    raise PricingFileError(f"{name} line {start}, column {index + 1}: {cell!r} is under no column "
                                           f"of the header line")
            named = zip(header, cells, strict=False)  # a short line: its missing cells are empty
            lines.append(CsvLine(name, start, {column: cell for column, cell in named if column}))
    except csv.Error as exc:
        raise PricingFileError(f"{name} line {end + 1}: not valid CSV ({exc})") from None  # where the record began
    if header is None:
        raise PricingFileError(f"{name}: no header line (required: {', '.join(required)})")
    return lines


# --- rates -----------------------------------------------------------------------------------------------------

def _rate(row: CsvLine) -> RateLine:
    list_price = row.number("list_unit_price")
    billed = row.number("billed_unit_price")
    if billed > list_price:
        raise row.refuse("billed_unit_price", f"is more than list_unit_price {list_price}: the subsidy (list - "
                                              f"billed) is never negative")
    valid_from = row.day("valid_from")
    valid_to = row.optional_day("valid_to")
    if valid_to is not None and valid_to < valid_from:
        raise row.refuse("valid_to", f"is before valid_from {valid_from} (valid_to is the last day, inclusive)")
    tier_from = row.optional_number("tier_from") or Decimal(0)
    tier_to = row.optional_number("tier_to")
    if tier_to is not None and tier_to <= tier_from:
        raise row.refuse("tier_to", f"is not above tier_from {tier_from} (tier_to is exclusive)")
    return RateLine(line=row.line, source=row.text("source").lower(), service_name=row.text("service_name"),
                    unit=row.text("unit"), list_unit_price=list_price, billed_unit_price=billed,
                    valid_from=valid_from, valid_to=valid_to, tier_from=tier_from, tier_to=tier_to,
                    group=row.text("group", required=False))


def _what(rate: RateLine) -> str:
    return (f"source {rate.source}, service {rate.service_name}, unit {rate.unit}, "
            f"group {rate.group or '(default)'}")


def _span(rate: RateLine) -> str:
    return f"{rate.valid_from} to {rate.valid_to or '(open)'}"


def _key(rate: RateLine) -> tuple[str, str, str, str]:
    """Which rates compete for the same usage; compared ignoring case, so `GPU` and `gpu` cannot both apply."""
    return rate.source.casefold(), rate.service_name.casefold(), rate.unit.casefold(), rate.group.casefold()


def _check_dates(name: str, rates: Iterable[RateLine]) -> None:
    """One rate per day for a key and tier: consecutive lines must not overlap nor leave a day without a rate."""
    dated: dict[tuple, list[RateLine]] = defaultdict(list)
    for rate in rates:
        dated[(*_key(rate), rate.tier_from)].append(rate)
    for lines in dated.values():
        lines.sort(key=lambda r: (r.valid_from, r.line))
        for before, rate in pairwise(lines):
            where = f"{name} line {rate.line}, column valid_from: '{rate.valid_from}'"
            tier = f", tier from {rate.tier_from}" if rate.tier_from or rate.tier_to is not None else ""
            if before.valid_to is None or rate.valid_from <= before.valid_to:
                raise PricingFileError(f"{where} overlaps line {before.line} ({_span(before)}) for {_what(rate)}"
                                       f"{tier}: one rate per day")
            if rate.valid_from != before.valid_to + timedelta(days=1):
                raise PricingFileError(f"{where} leaves a gap after line {before.line} ({_span(before)}) for "
                                       f"{_what(rate)}{tier}: it must start {before.valid_to + timedelta(days=1)}")


def _check_tiers(name: str, rates: Iterable[RateLine]) -> None:
    """The tiers of a key that start on one day: from 0, each tier_to the next tier_from, all ending together."""
    sets: dict[tuple, list[RateLine]] = defaultdict(list)
    for rate in rates:
        sets[(*_key(rate), rate.valid_from)].append(rate)
    for tiers in sets.values():
        tiers.sort(key=lambda r: (r.tier_from, r.line))
        first = tiers[0]
        what = f"for {_what(first)} from {first.valid_from}"
        if first.tier_from != 0:
            raise PricingFileError(f"{name} line {first.line}, column tier_from: '{first.tier_from}' is the lowest "
                                   f"tier {what}: tiers must start at 0")
        for before, tier in pairwise(tiers):
            where = f"{name} line {tier.line}, column tier_from: '{tier.tier_from}'"
            if before.tier_to is None or tier.tier_from < before.tier_to:
                raise PricingFileError(f"{where} overlaps line {before.line}'s tier ({before.tier_from} to "
                                       f"{before.tier_to or '(no end)'}) {what}")
            if tier.tier_from > before.tier_to:
                raise PricingFileError(f"{where} leaves a gap after line {before.line}'s tier ({before.tier_from} "
                                       f"to {before.tier_to}) {what}: it must be {before.tier_to}")
            if tier.valid_to != first.valid_to:
                raise PricingFileError(f"{name} line {tier.line}, column valid_to: '{tier.valid_to or ''}' differs "
                                       f"from line {first.line}'s ({first.valid_to or 'open'}) {what}: tiers that "
                                       f"start together end together")


def read_rates(path: str | Path) -> list[RateLine]:
    """The rates file's lines, checked one by one and for overlaps and gaps in dates and tiers."""
    path = Path(path)
    rates = [_rate(row) for row in read_csv_lines(path, *RATE_COLUMNS)]
    _check_dates(path.name, rates)
    _check_tiers(path.name, rates)
    return rates


# --- fees and accounts -----------------------------------------------------------------------------------------

def _fee(row: CsvLine) -> FeeLine:
    amount = row.number("amount")  # a recurring discount is a subsidy rule, never a negative fee
    frequency = row.text("frequency").lower()
    if frequency not in _EVERY:
        raise row.refuse("frequency", f"is not one of {', '.join(_EVERY)}")
    valid_from = row.day("valid_from")
    valid_to = row.optional_day("valid_to")
    if valid_to is not None and valid_to < valid_from:
        raise row.refuse("valid_to", f"is before valid_from {valid_from} (valid_to is the last day, inclusive)")
    return FeeLine(line=row.line, project_id=row.text("project_id"), service_name=row.text("service_name"),
                   amount=amount, frequency=frequency, valid_from=valid_from, valid_to=valid_to,
                   source=row.text("source", required=False).lower() or "fees")


def read_fees(path: str | Path) -> list[FeeLine]:
    """The fixed fees file's lines (project_id, service_name, amount, frequency, valid_from[, valid_to, source])."""
    return [_fee(row) for row in read_csv_lines(path, *FEE_COLUMNS)]


def read_accounts(path: str | Path) -> list[AccountLine]:
    """The accounts file: who pays for each Slurm account (or storage project); an account once, ignoring case."""
    accounts: list[AccountLine] = []
    seen: dict[str, CsvLine] = {}
    for row in read_csv_lines(path, *ACCOUNT_COLUMNS):
        account = row.text("account")
        if account.casefold() in seen:
            first = seen[account.casefold()]
            raise row.refuse("account", f"repeats line {first.line} ({first.cells['account']!r}): one line per "
                                        f"account (compared ignoring case)")
        seen[account.casefold()] = row
        pi_email = row.text("pi_email")
        if not _EMAIL.fullmatch(pi_email):
            raise row.refuse("pi_email", "is not an email address")
        accounts.append(AccountLine(line=row.line, account=account, pi_email=pi_email,
                                    project_id=row.text("project_id"), fund_org=row.text("fund_org"),
                                    group=row.text("group", required=False)))
    return accounts
