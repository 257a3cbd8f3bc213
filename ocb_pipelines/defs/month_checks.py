"""Asset checks evaluated per billing month, and a domain check's verdict shown as a check result.

A check is evaluated for one month only when its spec carries the asset's partitions: then each result is
recorded with its month (the UI's Partition column), and the month's row planned at the run's start is the
one the result fills. A check without partitions on a partitioned asset records its result with no month
(Partition "—"), shows one month's result on every month's page, and leaves the planned row of the month
unfilled, which the UI lists as "Skipped" once the run succeeds: the cause of the unexplained Skipped rows.

Dagster 1.13 marks partitioned checks as a preview; the warning is silenced here, once, for all of them. The
definitions move every check, with its asset, from the widest calendar to the warehouse's
(definitions.on_calendar).
"""

import warnings
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb

from ocb_pipelines.core.checks import CheckOutcome
from ocb_pipelines.defs.metadata import markdown_table, money_metadata
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse

# A domain's rule for one month: (connection, month, currency symbol) -> its verdict.
MonthRule = Callable[[duckdb.DuckDBPyConnection, str, str], CheckOutcome]


def month_check_spec(name: str, *, asset: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    """The spec of a check an asset yields itself (its own gate), evaluated per month."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking,
                                 partitions_def=billing_month)


def month_check(*, asset: Any, name: str, description: str,
                blocking: bool = False) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """@dg.asset_check evaluated per month, in the warehouse pool (it reads the DuckDB file)."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetChecksDefinition:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(asset=asset, name=name, description=description, blocking=blocking,
                                  partitions_def=billing_month, pool=WAREHOUSE_POOL)(fn)

    return decorate


def warehouse_month_check(*, asset: Any, name: str, description: str, rule: MonthRule,
                          blocking: bool = False) -> dg.AssetChecksDefinition:
    """A check that runs one domain rule on the month's warehouse data and shows its verdict: the rule says what
    is right, this only runs it for the partition's month."""

    def run_rule(context: dg.AssetCheckExecutionContext, ocb: OcbConfig, warehouse: Warehouse) -> dg.AssetCheckResult:
        currency = ocb.settings().currency
        with warehouse.get_connection() as con:
            outcome = rule(con, context.partition_key, currency.symbol)
        return check_result(outcome, currency.symbol, currency.code)

    run_rule.__name__ = name
    return month_check(asset=asset, name=name, description=description, blocking=blocking)(run_rule)


def check_result(outcome: CheckOutcome, symbol: str, code: str) -> dg.AssetCheckResult:
    """The verdict as the UI shows it: its one line as the description and `summary`, amounts as exact text
    with whole cents beside them (never a float), counts as ints, the culprits as a table."""
    metadata: dict[str, Any] = {"summary": dg.MetadataValue.text(outcome.summary)}
    for key, value in outcome.figures.items():
        if isinstance(value, Decimal):
            metadata.update(money_metadata(key, value, symbol, code))
        elif isinstance(value, bool):
            metadata[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            metadata[key] = dg.MetadataValue.int(value)
        elif value is not None:
            metadata[key] = dg.MetadataValue.text(str(value))
    if outcome.culprits:
        shown = len(outcome.culprits)
        note = f"\n\n_first {shown} of {outcome.culprit_count}_" if outcome.culprit_count > shown else ""
        metadata["culprits"] = dg.MetadataValue.md(markdown_table(outcome.culprits) + note)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if outcome.warn_only else dg.AssetCheckSeverity.ERROR,
        description=outcome.summary,
        metadata=metadata,
    )
