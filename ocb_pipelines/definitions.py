"""The one Definitions object: everything under `defs/`, loaded by `dg.load_from_defs_folder`.

`dg dev`, `dg check defs` and `dagster dev -w workspace.yaml` load `defs` (bound to $OCB_CONFIG or ./config.yaml);
the services load `build_definitions(path, month)` to run a job for the file a command was given.
"""

import warnings
from pathlib import Path

import dagster as dg
from dagster_shared.record import copy  # Definitions is an immutable record: a copy with one field changed

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
    # The folder lists an asset once per module that imports it (Dagster dedupes them by identity); mapped copies
    # would no longer be the same object, so keep one of each first.
    folder = copy(folder, assets=list({id(asset): asset for asset in folder.assets or []}.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # map_asset_specs is marked preview in Dagster 1.13
        return folder.map_asset_specs(
            func=lambda spec: spec.replace_attributes(partitions_def=calendar)
            if spec.partitions_def == billing_month else spec)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
