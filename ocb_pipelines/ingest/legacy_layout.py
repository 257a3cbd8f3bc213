"""OpenChargeback's file layout: what fills the FOCUS columns its files lack, and how its period ends read.

OpenChargeback's importer reads a 12-column subset of FOCUS (the billing and charge periods, the four costs,
ResourceId, ResourceName, ServiceName, Tags), with dates like `2025-01-01` and an inclusive period end
(`2025-01-31`). Its users' HPC, storage and cloud scripts write exactly that. Such a file lacks columns we bill
from (BillingAccountId, BillingCurrency, ChargeCategory, ProviderName, sometimes EffectiveCost); each has one
obvious value that the file's source already says, so the import fills them in its SQL projection (no per-row
Python) unless the source is `strict`. The stored raw rows keep every value the file wrote; the import's record
(`imports.filled_columns`) says which columns were filled, and with what.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ingest.focus import ColumnFill, HeaderMapping, NotFocusError, utc_timestamp_sql

DEFAULT_CATEGORY = "Usage"


@dataclass(frozen=True)
class SourceDefaults:
    """The values a source's configuration gives the required columns its files lack."""

    source: str  # the source name rows are stored under
    account: str
    currency: str
    provider: str
    provider_rule: str
    category: str = DEFAULT_CATEGORY
    strict: bool = False
    timezone: str = "UTC"  # the source's local time zone: a usage file's (sacct's) times are read in it

    @classmethod
    def of(cls, settings: OcbSettings, source: str) -> SourceDefaults:
        """account = the source name, currency = `currency.code`, provider = the source's display_name (else its
        name as written in imports.known_sources), category `Usage`; `strict` from the source."""
        known = settings.source(source)
        if known and known.display_name.strip():
            provider, rule = known.display_name.strip(), "source display_name"
        elif known:
            provider, rule = known.name, "source name as configured"
        else:
            provider, rule = source, "source name"
        return cls(source=source, account=source, currency=settings.currency.code, provider=provider,
                   provider_rule=rule, strict=bool(known and known.strict),
                   timezone=known.timezone if known else "UTC")

    def fill(self, column: str) -> ColumnFill:
        if column == "EffectiveCost":
            return ColumnFill(column, None, "BilledCost", "effective = billed")
        value, rule = {
            "BillingAccountId": (self.account, "source name"),
            "BillingCurrency": (self.currency, "currency.code"),
            "ChargeCategory": (self.category, "default"),
            "ProviderName": (self.provider, self.provider_rule),
        }[column]
        return ColumnFill(column, value, None, rule)


def with_fills(mapping: HeaderMapping, defaults: SourceDefaults | None) -> HeaderMapping:
    """The mapping with its missing columns filled from the source's defaults. NotFocusError when the file lacks
    them and there are no defaults (a caller without a configuration) or the source is strict."""
    if not mapping.missing:
        return mapping
    names = ", ".join(mapping.missing)
    if defaults is None:
        raise NotFocusError(f"required FOCUS columns missing: {names}")
    if defaults.strict:
        raise NotFocusError(
            f"required FOCUS columns missing: {names}; source {defaults.source!r} is strict "
            "(imports.known_sources[].strict: true), so they are not filled from its configuration: add them "
            "to the export, or set strict: false"
        )
    return dataclasses.replace(mapping, fills=tuple(defaults.fill(c) for c in mapping.missing))


def fills_json(mapping: HeaderMapping) -> str | None:
    """The import's record of its filled columns ({column: {value, copy_of, rule}}), None when none were."""
    if not mapping.fills:
        return None
    return json.dumps({f.column: f.as_json() for f in mapping.fills})


def describe_fills(recorded: dict[str, dict] | None) -> list[str]:
    """Human lines for a recorded `filled_columns` object."""
    return [ColumnFill(column, spec.get("value"), spec.get("copy_of"), spec.get("rule", "")).describe()
            for column, spec in (recorded or {}).items()]


def period_end_sql(start: str, end: str) -> str:
    """SQL: the UTC TIMESTAMP a period's end means. FOCUS ends are exclusive; OpenChargeback's are inclusive
    dates: `2025-01-01` .. `2025-01-31` is January. So an end written as a date on the last day of a month, in a
    period that starts (as a date) on the 1st of that month, is read as the start of the next month. No FOCUS
    export writes a month that way (it would miss its last day), and every other end reads as written. The
    length tests come first: a FOCUS date/time is longer, so its rows pay for one comparison."""
    day = f"TRY_CAST({end} AS DATE)"
    return (
        f"CASE WHEN length({end}) = 10 AND length({start}) = 10 AND substr({start}, 9, 2) = '01' "
        f"AND substr({start}, 1, 7) = substr({end}, 1, 7) AND {day} = last_day({day}) "
        f"THEN CAST({day} + 1 AS TIMESTAMP) ELSE {utc_timestamp_sql(end)} END"
    )
