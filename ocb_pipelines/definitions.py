"""The one Definitions object: everything under `defs/`, loaded by `dg.load_from_defs_folder`.

`dg dev`, `dg check defs` and `dagster dev -w workspace.yaml` load `defs` (bound to $OCB_CONFIG or ./config.yaml);
the services load `build_definitions(path)` to run a job for the file a command was given.
"""

from pathlib import Path

import dagster as dg

from ocb_pipelines.core.config import config_bound_to

PACKAGE_DIR = Path(__file__).parent  # holds dg.toml, so an installed wheel loads the same way as a checkout


def build_definitions(config_path: str | Path | None = None) -> dg.Definitions:
    """The defs folder with its resources and schedule bound to one configuration file, run in process:
    one writer at a time for the DuckDB warehouse."""
    with config_bound_to(config_path):
        folder = dg.load_from_defs_folder(path_within_project=PACKAGE_DIR)
    return dg.Definitions.merge(folder, dg.Definitions(executor=dg.in_process_executor))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
