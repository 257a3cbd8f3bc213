"""The Dagster layer (journal_job materialises gl_journal) and `ocb export-journal` through CliRunner."""

from __future__ import annotations

import json

import dagster as dg
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month, tagged


def _month(settings, close=True):
    load_month(settings, {"aws": [tagged(billed="10.004", resource="a"),
                                  tagged(billed="5.003", resource="b", pi_email="pi.two@example.edu")]}, close=close)


def _run(settings, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)])


def test_journal_job_materialises_gl_journal_with_metadata(settings):
    _month(settings)
    defs = build_definitions(settings.config_path)
    dg.Definitions.validate_loadable(defs)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("journal_job").execute_in_process(partition_key=MONTH, instance=instance)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key.to_user_string() == "gl_journal"
    meta = event.materialization.metadata
    assert meta["debit_total"].value == "$15.01 USD" and meta["debit_total_cents"].value == 1501
    assert meta["credit_total_cents"].value == 1501 and meta["approved_total_cents"].value == 1501
    assert meta["dagster/row_count"].value == 2 and meta["status"].value == "written"
    assert "aws 2025-01 proj-a" in meta["preview"].value and "recovery" in meta["preview"].value
    with wh.connect(settings.warehouse_path) as con:
        runs = con.execute("SELECT run_id FROM journal_exports").fetchall()
    assert runs == [(result.run_id,)]
    spec = defs.resolve_assets_def("gl_journal").specs_by_key[dg.AssetKey("gl_journal")]
    assert spec.group_name == "ledger" and dg.AssetKey("charges_approved") in {d.asset_key for d in spec.deps}


def test_journal_job_fails_on_an_open_month(settings):
    _month(settings, close=False)
    defs = build_definitions(settings.config_path)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("journal_job").execute_in_process(
            partition_key=MONTH, instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "ocb periods close 2025-01" in failure.step_failure_data.error.message


def test_cli_exports_each_format_as_json(settings):
    _month(settings)
    r = _run(settings, "export-journal", "-p", MONTH, "-f", "gl", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["ok"] and payload["status"] == "written" and payload["lines"] == 2
    assert payload["debit_total"] == payload["credit_total"] == payload["approved_total"] == "15.01"
    assert payload["file"].endswith("journal_gl_2025-01.csv")
    for fmt in ("standard", "summary"):
        r = _run(settings, "export-journal", "-p", MONTH, "-f", fmt, "--json")
        assert r.exit_code == 0 and json.loads(r.output)["format"] == fmt
    again = _run(settings, "export-journal", "-p", MONTH)
    assert again.exit_code == 0 and "unchanged" in again.output and "debits $15.01 = credits $15.01" in again.output


def test_cli_output_folder(settings, tmp_path):
    _month(settings)
    out = tmp_path / "to_accounting"
    r = _run(settings, "export-journal", "-p", MONTH, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert (out / "journal_gl_2025-01.csv").is_file()


def test_cli_refusals_say_what_to_do(settings, tmp_path):
    _month(settings, close=False)
    r = _run(settings, "export-journal", "-p", MONTH)
    assert r.exit_code == 1 and "ocb periods close 2025-01" in r.output and "Traceback" not in r.output
    r = _run(settings, "export-journal", "-p", MONTH, "--json")
    payload = json.loads(r.stdout)
    assert r.exit_code == 1 and not payload["ok"] and "ocb periods close" in payload["problems"][0]
    assert _run(settings, "export-journal", "-p", "2025-13").exit_code == 1
    assert _run(settings, "export-journal", "-p", MONTH, "-f", "xml").exit_code == 2


def test_cli_lists_every_culprit_of_an_unbalanced_journal(tmp_path, monkeypatch):
    from .conftest import write_config

    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = write_config(tmp_path, lambda t: t.replace('fund_org: "RCIT-900001"', 'fund_org: ""'))
    load_month(settings, {"aws": [tagged(billed="1.00", resource="a", account="12")]})
    r = _run(settings, "export-journal", "-p", MONTH, "--json")
    payload = json.loads(r.stdout)
    assert r.exit_code == 1 and len(payload["problems"]) == 2
    assert "source 'aws' has no fund_org" in payload["problems"][0] and "account '12'" in payload["problems"][1]
    text = _run(settings, "export-journal", "-p", MONTH)
    assert text.exit_code == 1 and "no file was written" in text.output and "account '12'" in text.output
    assert not settings.output.journal_dir.exists()
