"""The one Definitions object: everything under `defs/`, loaded by `dg.load_from_defs_folder`.

`dg dev`, `dg check defs` and `dagster dev -w workspace.yaml` load `defs` (bound to $OCB_CONFIG or ./config.yaml);
the services load `build_definitions(path, month)` to run a job for the file a command was given.
"""

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_shared.record import copy, replace  # immutable records (Definitions, AssetCheckSpec): changed copies

from ocb_pipelines.core.config import ConfigError, config_bound_to, load_config
from ocb_pipelines.defs.partitions import billing_month, billing_months
from ocb_pipelines.services.calendar import first_billing_month

PACKAGE_DIR = Path(__file__).parent  # holds dg.toml, so an installed wheel loads the same way as a checkout


def build_definitions(config_path: str | Path | None = None, including_month: str | None = None) -> dg.Definitions:
    """The defs folder with its resources and schedule bound to one configuration file, and its partitions to
    that warehouse's billing calendar (extended back to `including_month`, a month a command is about to
    import). Runs in process: one writer at a time for the DuckDB warehouse."""
    with config_bound_to(config_path):
        folder = dg.load_from_defs_folder(path_within_project=PACKAGE_DIR)
    folder = dg.Definitions.merge(folder, dg.Definitions(executor=dg.in_process_executor))
    try:
        first = first_billing_month(load_config(config_path), including=including_month)
    except ConfigError:
        return folder  # every run then fails with the configuration's own error; the widest calendar meanwhile
    calendar = billing_months(first)
    # The folder lists an asset once per module that imports it (Dagster dedupes them by identity); moved copies
    # would no longer be the same object, so keep one of each first.
    return copy(folder, assets=[on_calendar(a, calendar) for a in _unique(folder.assets)],
                asset_checks=[on_calendar(c, calendar) for c in _unique(folder.asset_checks)])


def _unique(definitions: Iterable[Any] | None) -> list[Any]:
    return list({id(d): d for d in definitions or []}.values())


def on_calendar(definition: Any, calendar: dg.PartitionsDefinition) -> Any:
    """An asset, with its checks, or a standalone check, moved from the widest calendar (`billing_month`) to the
    warehouse's. A check is evaluated per month only when its spec carries the asset's partitions, and Dagster
    1.13 has no public call that moves a check spec (map_asset_specs leaves them behind, and an asset whose checks
    are on another calendar fails to load), so the definition is rebuilt as its own map_asset_specs rebuilds it."""
    if not isinstance(definition, dg.AssetsDefinition):
        return definition
    specs = [s.replace_attributes(partitions_def=calendar) if s.partitions_def == billing_month else s
             for s in definition.specs]
    checks = {name: replace(s, partitions_def=calendar) if s.partitions_def == billing_month else s
              for name, s in definition.node_check_specs_by_output_name.items()}
    attributes = {**definition.get_attributes_dict(), "specs": specs, "check_specs_by_output_name": checks}
    with warnings.catch_warnings():
        # Partitioned checks are a preview in Dagster 1.13, and the constructor's execution_type a beta parameter.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        if isinstance(definition, dg.AssetChecksDefinition):  # stays a check (Dagster would convert it, warning)
            return dg.AssetChecksDefinition(**attributes)
        return dg.AssetsDefinition.dagster_internal_init(**attributes)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
