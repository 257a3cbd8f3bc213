"""The billing month: one type and one parser for every `YYYY-MM` the project reads.

Periods, imports, review sheets, the CLI, OpenChargeback's history and the sample generator all take a billing
month as text. They used to check it with four patterns that disagreed (`20\\d{2}`, `\\d{4}`, the generator's
own, the partitions' start), so a month accepted in one place was refused in another. Every check now goes
through `BillingMonth.parse`: a four-digit year (0001 to 9999) and a month 01 to 12, written `YYYY-MM`. Whether
a well-formed month is one to bill (the billing calendar) is a separate rule, `ingest.billing_months`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime

KEY_FORMAT = "YYYY-MM"
EXAMPLE = "2025-01"
_KEY = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")  # [0-9]: `\d` would take other scripts' digits


class BillingMonthError(ValueError):
    """A text that is not a billing month; the message names the value and the form expected."""


@dataclass(frozen=True, order=True)
class BillingMonth:
    """A calendar month that charges are billed in; `key` is its `YYYY-MM` text (partition key, period id)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.year <= 9999 and 1 <= self.month <= 12):
            raise BillingMonthError(f"{self.year:04d}-{self.month:02d} is not a billing month; write it as "
                                    f"{KEY_FORMAT} (e.g. {EXAMPLE})")

    @classmethod
    def parse(cls, text: object) -> BillingMonth:
        """The month `text` names, exactly `YYYY-MM`; BillingMonthError naming the value otherwise."""
        match = _KEY.fullmatch(text) if isinstance(text, str) else None
        if match is None or match.group(1) == "0000":
            raise BillingMonthError(f"{text!r} is not a billing month; write it as {KEY_FORMAT} (e.g. {EXAMPLE})")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, moment: date | datetime) -> BillingMonth:
        """The month a date or datetime falls in (in its own time zone; pass a UTC datetime for UTC)."""
        return cls(moment.year, moment.month)

    @property
    def key(self) -> str:
        """`YYYY-MM`, the form stored in every table and used as the Dagster partition key."""
        return f"{self.year:04d}-{self.month:02d}"

    def __str__(self) -> str:
        return self.key

    def next(self) -> BillingMonth:
        """The month after this one."""
        return BillingMonth(self.year + 1, 1) if self.month == 12 else BillingMonth(self.year, self.month + 1)

    def previous(self) -> BillingMonth:
        """The month before this one."""
        return BillingMonth(self.year - 1, 12) if self.month == 1 else BillingMonth(self.year, self.month - 1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def through(self, last: BillingMonth) -> list[BillingMonth]:
        """This month and every one after it up to `last`, in order (empty when `last` is earlier)."""
        months: list[BillingMonth] = []
        month = self
        while month <= last:
            months.append(month)
            month = month.next()
        return months


def month_key(text: object) -> str:
    """The `YYYY-MM` key of a billing month given as text, validated (BillingMonthError otherwise)."""
    return BillingMonth.parse(text).key


def is_month_key(text: object) -> bool:
    """Whether `text` is a billing month written `YYYY-MM` (for callers that report the problem themselves)."""
    try:
        BillingMonth.parse(text)
    except BillingMonthError:
        return False
    return True
