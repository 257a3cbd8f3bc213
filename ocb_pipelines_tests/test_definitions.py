"""The whole Definitions object loads, so a broken import never hides."""

import dagster as dg

from ocb_pipelines.definitions import build_definitions


def test_definitions_load():
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("ingest_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= {"focus_raw", "charges_validated"}
    assert defs.resolve_sensor_def("focus_inbox_sensor")


def test_definitions_bind_the_given_config(tmp_path):
    built = build_definitions(tmp_path / "c.yaml")
    dg.Definitions.validate_loadable(built)


def test_dagster_loads_the_project_through_workspace_yaml(tmp_path):
    """`dagster dev` in the repo root finds workspace.yaml (no [tool.dg] block overrides it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Validation successful for code location ocb_pipelines" in output
