"""The whole Definitions object loads, so a broken import never hides."""

import dagster as dg

from ocb_pipelines.definitions import build_definitions, defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("ingest_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= {"focus_raw", "charges_validated"}
    assert defs.resolve_sensor_def("focus_inbox_sensor")


def test_definitions_bind_the_given_config(tmp_path):
    built = build_definitions(tmp_path / "c.yaml")
    dg.Definitions.validate_loadable(built)
