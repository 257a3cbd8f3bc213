"""Pandera schema of a FOCUS file's structure: the gate in front of `focus_raw`.

It checks the raw text as the file wrote it (FOCUS Numeric, Date/Time and Currency formats,
allowed values, required values, period start before end), so a value DuckDB would read loosely
(`5/1/25` is year 5 to a timestamp cast) is refused instead of guessed. Policy problems (a missing
fund, an unknown project, malformed tags) are not gate failures: they route a row to review.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from ocb_pipelines.ingest.focus import ALLOWED_VALUES, DATETIME_COLUMNS, DECIMAL_COLUMNS, MONEY_COLUMNS

# FOCUS Numeric Format: optional minus, digits, optional fraction, optional E-notation. We also cap the
# magnitude (20 integer digits, 2-digit exponent); whether an amount fits DECIMAL(38, 12) exactly is the
# `fits_money` check's to say (a 20-digit value times 1E9 does not, nor does 1.5E-13).
DECIMAL_RE = r"^-?(?:\d{1,20}(?:\.\d*)?|\.\d+)(?:[eE](?:-\d{1,2}|\+?\d))?$"
# FOCUS Date/Time Format, plus what real exports write: a space for T, fractions, offsets, no zone.
DATETIME_RE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
CURRENCY_RE = r"^[A-Z]{3}$"
# Amounts and PricingQuantity are kept as DECIMAL(38, 12) (core.warehouse.MONEY), exactly: a value that needs more
# than 12 decimal places (`0.30000000000000004`, `1.5E-13`) or more than 26 digits before the point would be
# rounded or overflow, so the gate refuses it instead (unit prices stay text as written and are never cast).
EXACT_COLUMNS = (*MONEY_COLUMNS, "PricingQuantity")
MONEY_SCALE = 12
MONEY_WHOLE_DIGITS = 38 - MONEY_SCALE
EXACT_PROBLEM = (f"needs more than {MONEY_SCALE} decimal places (or {MONEY_WHOLE_DIGITS} digits before the point): "
                 f"amounts are kept exactly to {MONEY_SCALE} places and never rounded; round it at the source")
# A FOCUS number's parts: whole digits without leading zeros, fraction digits without trailing zeros, exponent.
_NUMBER_PARTS = r"^-?0*(?P<whole>\d*?)(?:\.(?P<fraction>\d*?)0*)?(?:[eE](?P<exponent>[+-]?\d+))?$"
DATETIME_PROBLEM = "not a FOCUS date/time (YYYY-MM-DDTHH:MM:SSZ)"
NOT_A_REAL_DATE = "not a real date/time (no such day, month or hour)"
REAL_DATE = "real_date:"  # the name of the check that a well-formed date/time is a real one (not 2025-02-30)

NOT_NULL_COLUMNS = (
    "BilledCost", "EffectiveCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd", "ServiceName",
)  # fmt: skip

ROW_INDEX = "file_row_number"


SAMPLE_ROWS = 4096


def _judged_on_distinct(test: Callable[[pyarrow.Array | pyarrow.ChunkedArray], pyarrow.Array]):
    """A check function that runs `test` on the column's distinct values when they repeat (dates, unit prices,
    categories: 3-50x less work than judging every row), and on every row when a sample says they mostly do not
    (amounts: finding the distinct values would cost more than it saves). Only when a distinct value fails is
    every row judged, so the failure cases name the rows. Missing values pass (the checks take `ignore_na=False`:
    Pandera's own dropping of them copied every chunk's column first)."""

    def passed(values: pyarrow.Array | pyarrow.ChunkedArray) -> pyarrow.Array:
        return pc.or_kleene(pc.is_null(values), test(values))  # a missing value is the nullable check's to judge

    def check(series: pd.Series) -> bool | pd.Series:
        values = series.array.__arrow_array__()  # the gate's chunks are Arrow-backed: no copy
        sample = values.slice(0, SAMPLE_ROWS)
        repeats = len(pc.unique(sample)) * 4 <= len(sample)
        if repeats and pc.all(passed(pc.unique(values))).as_py() is not False:
            return True
        return pd.Series(passed(values), index=series.index, dtype=pd.ArrowDtype(pyarrow.bool_()))

    return check


def _fits_money(series: pd.Series) -> bool | pd.Series:
    """Whether each value fits DECIMAL(38, 12) exactly. Amounts rarely repeat, so the test is made cheap instead:
    without an exponent a value needs more than 12 places only if its text has 14 characters or more, and then
    only if a digit other than 0 follows the 12th decimal (one regex, on those values only); a chunk whose text
    bytes hold no `e` has no exponent (one pass over the bytes, not a test of each value). Values with an exponent
    are taken apart by Arrow's vectorised regex. A value that is no FOCUS number is left to the format check."""
    values = series.array.__arrow_array__()
    chunks = values.chunks if isinstance(values, pyarrow.ChunkedArray) else [values]
    fits = np.concatenate([_chunk_fits(chunk) for chunk in chunks]) if chunks else np.ones(0, dtype=bool)
    return True if fits.all() else pd.Series(fits, index=series.index)


def _chunk_fits(chunk: pyarrow.Array) -> np.ndarray:
    if chunk.type not in (pyarrow.string(), pyarrow.large_string()):
        chunk = chunk.cast(pyarrow.large_string())
    offsets_type = np.int64 if chunk.type == pyarrow.large_string() else np.int32
    _, offsets_buffer, data = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offsets_type)[chunk.offset: chunk.offset + len(chunk) + 1]
    fits = np.ones(len(chunk), dtype=bool)
    if data is None or not len(chunk):
        return fits
    text = np.frombuffer(data, dtype=np.uint8)[offsets[0]: offsets[-1]]
    if np.any((text | 0x20) == ord("e")):  # an exponent (e or E) somewhere in the chunk: take every value apart
        return _parts_fit(chunk)
    at = np.flatnonzero(np.diff(offsets) >= 14)  # at least "." and 13 digits (FOCUS allows `.5`)
    if at.size:
        beyond = pc.match_substring_regex(chunk.take(pyarrow.array(at)), r"\.\d{12}\d*[1-9]")
        fits[at] = ~pc.fill_null(beyond, False).to_numpy(zero_copy_only=False)
    return fits


def _parts_fit(chunk: pyarrow.Array) -> np.ndarray:
    """Per value: the places its fraction and exponent need, and its whole digits, within DECIMAL(38, 12)."""
    parts = pc.extract_regex(chunk, _NUMBER_PARTS)
    written = pc.replace_substring(parts.field("exponent"), "+", "")
    exponent = pc.cast(pc.fill_null(pc.if_else(pc.equal(written, ""), "0", written), "0"), pyarrow.int64())
    places = pc.subtract(pc.utf8_length(parts.field("fraction")), exponent)
    whole = pc.utf8_length(parts.field("whole"))
    fits = pc.and_(pc.less_equal(places, MONEY_SCALE),
                   pc.or_(pc.equal(whole, 0), pc.less_equal(pc.add(whole, exponent), MONEY_WHOLE_DIGITS)))
    return pc.fill_null(fits, True).to_numpy(zero_copy_only=False)


def _matches(pattern: str, error: str) -> pa.Check:
    """Check.str_matches (the pattern matches from the start), judged on distinct values."""
    return pa.Check(_judged_on_distinct(lambda values: pc.match_substring_regex(values, pattern)),
                    element_wise=False, error=error, name="str_matches", ignore_na=False)


def _allowed(values: Sequence[str]) -> pa.Check:
    lowered = pyarrow.array(sorted({v.lower() for v in values}))
    return pa.Check(
        _judged_on_distinct(lambda column: pc.is_in(pc.utf8_lower(column), value_set=lowered)),
        element_wise=False,
        error=f"not one of the FOCUS values {', '.join(values)}",
        name="allowed_values",
        ignore_na=False,
    )


def focus_structure_schema(columns: Sequence[str]) -> pa.DataFrameSchema:
    """The schema for the FOCUS columns a file actually has (versions differ in columns)."""
    present = set(columns)
    spec: dict[str, pa.Column] = {}
    for column in present & set(DECIMAL_COLUMNS):
        exact = [pa.Check(_fits_money, element_wise=False, error=EXACT_PROBLEM, name="fits_money", ignore_na=False)]
        spec[column] = pa.Column(
            nullable=column not in NOT_NULL_COLUMNS,
            checks=[_matches(DECIMAL_RE, error="not a FOCUS decimal number (e.g. 12.50, -3, 3.5E-7)"),
                    *(exact if column in EXACT_COLUMNS else [])],
        )
    for column in present & set(DATETIME_COLUMNS):
        spec[column] = pa.Column(
            nullable=column not in NOT_NULL_COLUMNS,
            checks=_matches(DATETIME_RE, error=DATETIME_PROBLEM),
        )
    for column, values in ALLOWED_VALUES.items():
        if column in present:
            spec[column] = pa.Column(nullable=column not in NOT_NULL_COLUMNS, checks=_allowed(values))
    if "BillingCurrency" in present:
        spec["BillingCurrency"] = pa.Column(
            nullable=False, checks=_matches(CURRENCY_RE, error="not an ISO 4217 currency code")
        )
    for column in NOT_NULL_COLUMNS:
        if column in present and column not in spec:
            spec[column] = pa.Column(nullable=False)
    real_dates = [
        pa.Check(_real_date(column), name=REAL_DATE + column, error=f"{REAL_DATE}{column}", ignore_na=False)
        for column in DATETIME_COLUMNS if column in present
    ]
    return pa.DataFrameSchema(
        spec,
        checks=[
            *real_dates,
            pa.Check(
                _start_before_end("BillingPeriodStart__ts", "BillingPeriodEnd__ts", strict=True),
                name="billing_period_start_before_end",
                error="BillingPeriodStart must be before BillingPeriodEnd",
                ignore_na=False,  # the check passes a missing end itself; Pandera's test of every column is spared
            ),
            pa.Check(
                _start_before_end("ChargePeriodStart__ts", "ChargePeriodEnd__ts", strict=False),
                name="charge_period_start_before_end",
                error="ChargePeriodStart must not be after ChargePeriodEnd",
                ignore_na=False,
            ),
        ],
        index=pa.Index("int64", name=ROW_INDEX),
        strict=False,
        coerce=False,
    )


def _real_date(column: str):
    """A date/time written in FOCUS form must also be a real instant (`2025-02-30`, `2025-13-01` and hour 25
    match the format but are no date): the gate's `<column>__ts` is the text parsed, null when it does not."""
    def check(frame: pd.DataFrame) -> pd.Series:
        parsed = f"{column}__ts"
        if column not in frame or parsed not in frame:
            return pd.Series(True, index=frame.index)
        return frame[column].isna() | frame[parsed].notna()

    return check


def _start_before_end(start: str, end: str, *, strict: bool):
    def check(frame: pd.DataFrame) -> pd.Series:
        if start not in frame or end not in frame:
            return pd.Series(True, index=frame.index)
        s, e = frame[start], frame[end]
        ok = (s < e) if strict else (s <= e)
        return ok | s.isna() | e.isna()

    return check


@dataclass(frozen=True)
class GateFailure:
    """One bad value: enough for a person to find and fix it."""

    row: int | None
    column: str | None
    value: object
    problem: str

    def describe(self, file_name: str) -> str:
        where = f"row {self.row} (line {self.row + 1})" if self.row is not None else "whole file"
        column = f", column {self.column}" if self.column else ""
        value = "" if self.value is None else f", value {_show(self.value)}"
        return f"{file_name}: {where}{column}{value}: {self.problem}"


def _show(value: object, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failures_from(error: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int) -> list[GateFailure]:
    """Turn Pandera's failure cases into GateFailures in file order (row, then column)."""
    cases = error.failure_cases
    out: list[GateFailure] = []
    seen: set[tuple] = set()
    wrong_format = {(int(c.index), c.column) for c in cases.itertuples(index=False)
                    if str(c.check) == DATETIME_PROBLEM and getattr(c, "index", None) is not None
                    and not pd.isna(c.index)}
    for case in cases.itertuples(index=False):
        index = getattr(case, "index", None)
        row = int(index) if index is not None and not pd.isna(index) else None
        column = case.column if isinstance(case.column, str) and case.column != frame.index.name else None
        check = str(case.check)
        if getattr(case, "schema_context", "") == "DataFrameSchema" and check.startswith(REAL_DATE):
            column = check[len(REAL_DATE):]
            if (row, column) in wrong_format:
                continue  # not in FOCUS form either: that failure says enough
            problem = NOT_A_REAL_DATE
            value = frame.at[row, column] if row is not None and row in frame.index else None
        elif getattr(case, "schema_context", "") == "DataFrameSchema" and ("before" in check or "after" in check):
            column = "BillingPeriodStart" if check.startswith("BillingPeriod") else "ChargePeriodStart"
            problem = check
            value = None
            if row is not None and row in frame.index:
                end_col = column.replace("Start", "End")
                value = f"{frame.at[row, column]} .. {frame.at[row, end_col]}"
        elif check == "not_nullable":
            problem, value = "a value is required", None
        else:
            problem = _problem_text(check)
            value = case.failure_case
        key = (row, column, problem)
        if key in seen:
            continue  # a dataframe-wide check reports once per column; keep one per row
        seen.add(key)
        out.append(GateFailure(row=row, column=column, value=value, problem=problem))
    out.sort(key=lambda f: (f.row if f.row is not None else -1, f.column or ""))
    return out[:limit]


def _problem_text(check: str) -> str:
    if check.startswith("str_matches"):
        return "wrong format"
    return check
