"""`ocb review` and `ocb audit` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH
from .test_sheets import _fill


def _run(settings, *args):
    result = CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)])
    return result


def test_list_json_shows_the_queue_with_money(settings, month):
    result = _run(settings, "review", "list", "-p", MONTH, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["count"] == 3 and payload["billed_total"] == "14.750000000000"
    assert {c["charge_id"] for c in payload["charges"]} == {month["test"], month["noproj"], month["nofund"]}
    text = _run(settings, "review", "list", "-p", MONTH, "--reason", "missing_project")
    assert text.exit_code == 0 and month["noproj"] in text.output and month["test"] not in text.output


def test_approve_reject_correct_without_rebuild(settings, month):
    r = _run(settings, "review", "approve", "-p", MONTH, "--id", month["test"], "--note", "ok", "--no-rebuild")
    assert r.exit_code == 0, r.output
    r = _run(settings, "review", "reject", "-p", MONTH, "--reason", "missing_project", "--note", "no",
             "--no-rebuild", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["charges"] == [month["noproj"]]
    r = _run(settings, "review", "correct", "-p", MONTH, "--pi", "pi.two@example.edu", "--set-fund", "ABC-999999",
             "--note", "fund from grant", "--no-rebuild")
    assert r.exit_code == 0, r.output
    with wh.connect(settings.warehouse_path) as con:
        rows = con.execute("SELECT decision, actor FROM review_decisions ORDER BY decision_id").fetchall()
    assert rows == [("approve", "tester"), ("reject", "tester"), ("correct", "tester")]
    audit = json.loads(_run(settings, "audit", "-p", MONTH, "--json").output)["events"]
    assert [e["action"] for e in audit if e["action"].startswith("review_")] == [
        "review_approve", "review_reject", "review_correct"]


def test_decisions_need_a_note_and_a_selector(settings, month):
    missing_note = _run(settings, "review", "approve", "-p", MONTH, "--all")
    assert missing_note.exit_code == 2 and "--note" in missing_note.output
    no_selector = _run(settings, "review", "approve", "-p", MONTH, "--note", "x")
    assert no_selector.exit_code == 1 and "say which charges" in no_selector.output
    assert "Traceback" not in no_selector.output
    unknown = _run(settings, "review", "approve", "-p", MONTH, "--id", "f" * 20, "--note", "x", "--json")
    assert unknown.exit_code == 1 and json.loads(unknown.stdout)["ok"] is False


def test_closed_month_refuses_decisions_with_what_to_do(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        con.execute("UPDATE billing_periods SET status = 'closed'")
    r = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "late")
    assert r.exit_code == 1 and "ocb periods reopen 2025-01" in r.output and "Traceback" not in r.output


def test_bulk_approve_all_rebuilds_and_logs_each_charge(settings, month):
    # Charges with no project or no fund cannot be approved as is: --strict refuses the whole batch, naming them.
    r = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "month checked", "--strict")
    assert r.exit_code == 1
    assert "--strict: 2 of 3 charge(s) cannot be approved" in r.output and "nothing was recorded" in r.output
    assert f"1 has no fund_org: {month['nofund']}" in r.output
    assert f"1 has no project_id: {month['noproj']}" in r.output
    r = _run(settings, "review", "correct", "-p", MONTH, "--id", month["noproj"], "--set-project", "proj-a",
             "--note", "from ticket", "--no-rebuild")
    assert r.exit_code == 0, r.output
    r = _run(settings, "review", "reject", "-p", MONTH, "--id", month["nofund"], "--note", "not ours", "--no-rebuild")
    assert r.exit_code == 0, r.output
    r = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "month checked", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert len(payload["decision_ids"]) == 1 and payload["rebuild"]["success"]
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM charges_approved").fetchall() == [(3,)]
        events = con.execute("SELECT subject FROM audit_events WHERE action = 'review_approve'").fetchall()
    assert [e[0] for e in events] == [month["test"]]


def test_export_and_apply_sheet(settings, month):
    out = settings.review_dir / "exports" / "s.csv"
    r = _run(settings, "review", "export", "-p", MONTH, "-o", str(out))
    assert r.exit_code == 0 and "wrote 3 charge(s)" in r.output
    filled = _fill(out, settings.review_dir / "filled.csv", edits={"test": {"decision": "reject", "note": "no"}})
    r = _run(settings, "review", "apply", str(filled), "--no-rebuild", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["reviewer"] == "Carol Finance"
    bad = _fill(out, settings.review_dir / "bad.csv", reviewer="", edits={"test": {"decision": "reject", "note": "x"}})
    r = _run(settings, "review", "apply", str(bad))
    assert r.exit_code == 1 and "bad.csv line 3, column reviewer" in r.output
    audit = _run(settings, "audit", "--action", "review_sheet_refused")
    assert "bad.csv" in audit.output
