"""Review sheets: export, fill in, apply; formula neutralising; every kind of bad sheet; the sensor."""

from __future__ import annotations

import csv
import json

import dagster as dg
import pytest

from ocb_pipelines.defs.resources import OcbConfig
from ocb_pipelines.defs.review.sensors import plan_sheet_runs, review_sheet_sensor, sheet_files
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.review.sheets import SheetRefused, apply_sheet, export_sheet, neutralise, unneutralise
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month, standard_rows


def _export(settings, path=None):
    path = path or settings.review_dir / "exports" / "sheet.csv"
    with wh.connect(settings.warehouse_path) as con:
        export_sheet(con, MONTH, path)
    return path


def _read(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _fill(src, dst, reviewer="Carol Finance", edits=None, header_edit=None):
    """Fill a sheet like a spreadsheet user: edits = {resource_id: {column: value}}."""
    rows = _read(src)
    head = next(i for i, r in enumerate(rows) if r and r[0] == "charge_id")
    cols = rows[head]
    for r in rows[:head]:
        if r and r[0] == "reviewer":
            r[1] = reviewer
    for r in rows[head + 1:]:
        for column, value in (edits or {}).get(r[cols.index("resource_id")], {}).items():
            r[cols.index(column)] = value
    if header_edit:
        header_edit(rows)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return dst


def _decisions(settings):
    with wh.connect(settings.warehouse_path) as con:
        return rd.month_decisions(con, MONTH)


def _audit(settings, action):
    with wh.connect(settings.warehouse_path) as con:
        return con.execute("SELECT actor, subject, details FROM audit_events WHERE action = ?", [action]).fetchall()


def test_neutralise_round_trip():
    for text in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "'quoted", ""]:
        assert unneutralise(neutralise(text)) == text
    assert neutralise("=1+1") == "'=1+1" and neutralise("ok") == "ok"


def test_export_neutralises_formulas_and_round_trips(settings):
    load_month(settings, [charge_row(resource="=HYPERLINK(\"http://evil\")", project_id="@proj", fund_org=None)])
    path = _export(settings)
    rows = _read(path)
    head = next(i for i, r in enumerate(rows) if r and r[0] == "charge_id")
    line = dict(zip(rows[head], rows[head + 1], strict=True))
    assert line["resource_id"] == "'=HYPERLINK(\"http://evil\")" and line["project_id"] == "'@proj"
    assert line["billed_cost"] == "10.000000000000"
    filled = _fill(path, settings.review_dir / "in.csv",
                   edits={"'=HYPERLINK(\"http://evil\")": {"decision": "Correct", "note": "=fund from PI",
                                                           "new_fund_org": "ABC-123456"}})
    with wh.connect(settings.warehouse_path) as con:
        result = apply_sheet(con, filled, fund_org_patterns=settings.review.fund_org_patterns)
    assert result.status == "applied"
    (decision,) = _decisions(settings)
    assert decision["note"] == "=fund from PI" and decision["fund_org"] == "ABC-123456"


def test_sheet_round_trip_applies_every_decision_as_the_reviewer(settings, month):
    path = _export(settings)
    filled = _fill(path, settings.review_dir / "review_2025-01_done.csv", edits={
        "test": {"decision": "approve", "note": "sandbox billable"},
        "noproj": {"decision": "reject", "note": "not ours"},
        "nofund": {"decision": "correct", "note": "fund from ticket", "new_fund_org": "XYZ-111111"},
    })
    with wh.connect(settings.warehouse_path) as con:
        result = apply_sheet(con, filled, fund_org_patterns=settings.review.fund_org_patterns)
        again = apply_sheet(con, filled)
        summary = rd.summarize_review(con, MONTH)
    assert result.status == "applied" and len(result.decision_ids) == 3
    assert {d["actor"] for d in _decisions(settings)} == {"Carol Finance"}
    assert {d["via"] for d in _decisions(settings)} == {"sheet"}
    assert again.status == "already_applied" and len(_decisions(settings)) == 3
    assert summary.rows("pending") == 0 and summary.rows("rejected") == 1 and summary.rows("corrected") == 1
    assert len(_audit(settings, "review_sheet_applied")) == 1
    assert len([e for e in _audit(settings, "review_approve") if e[0] == "Carol Finance"]) == 1


def test_reviewer_may_be_a_column(settings, month):
    path = _export(settings)

    def add_column(rows):
        head = next(i for i, r in enumerate(rows) if r and r[0] == "charge_id")
        rows[head].append("reviewer")
        for r in rows[head + 1:]:
            r.append("Dan Dept")

    filled = _fill(path, settings.review_dir / "s.csv", reviewer="",
                   edits={"test": {"decision": "approve", "note": "ok"}}, header_edit=add_column)
    with wh.connect(settings.warehouse_path) as con:
        assert apply_sheet(con, filled).reviewer == "Dan Dept"


def _set_period_status(settings, status):
    with wh.connect(settings.warehouse_path) as con:
        con.execute("UPDATE billing_periods SET status = ? WHERE period = ?", [status, MONTH])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_id", "column charge_id, value '00000000000000000000': no such charge"),
        ("unknown_decision", "column decision, value 'maybe': unknown decision"),
        ("edited_amount", "column billed_cost, value '1.00': amounts cannot be edited"),
        ("missing_reviewer", "column reviewer, value '': name the reviewer"),
        ("missing_note", "column note, value '': a note is required"),
        ("bad_correction", "fund_org 'nope' does not match"),
        ("closed", "billing month 2025-01 is closed, so review decisions are refused; reopen it"),
        ("finalized", "is finalized, so review decisions are refused; book corrections in the next open month"),
        ("duplicate_line", "decided twice"),
    ],
)
def test_bad_sheets_are_refused_whole_with_a_message_per_line(settings, month, case, expected):
    path = _export(settings)
    edits = {"test": {"decision": "approve", "note": "fine"}}
    reviewer = "Carol Finance"
    header_edit = None
    if case == "unknown_id":
        edits["noproj"] = {"charge_id": "0" * 20, "decision": "approve", "note": "x"}
    elif case == "unknown_decision":
        edits["noproj"] = {"decision": "maybe", "note": "x"}
    elif case == "edited_amount":
        edits["noproj"] = {"decision": "approve", "note": "x", "billed_cost": "1.00"}
    elif case == "missing_reviewer":
        reviewer = ""
    elif case == "missing_note":
        edits["noproj"] = {"decision": "reject"}
    elif case == "bad_correction":
        edits["nofund"] = {"decision": "correct", "note": "x", "new_fund_org": "nope"}
    elif case in ("closed", "finalized"):
        _set_period_status(settings, case)
    elif case == "duplicate_line":
        def header_edit(rows):
            rows.append(list(rows[-1]))
            rows[-1][rows[7].index("decision")], rows[-1][rows[7].index("note")] = "approve", "twice"
            rows[-2][rows[7].index("decision")], rows[-2][rows[7].index("note")] = "approve", "once"
    filled = _fill(path, settings.review_dir / "bad.csv", reviewer=reviewer, edits=edits, header_edit=header_edit)
    with pytest.raises(SheetRefused) as info, wh.connect(settings.warehouse_path) as con:
        apply_sheet(con, filled, fund_org_patterns=settings.review.fund_org_patterns)
    message = str(info.value)
    assert "bad.csv line" in message and expected in message
    assert _decisions(settings) == []
    (refusal,) = _audit(settings, "review_sheet_refused")
    assert refusal[1] == "bad.csv" and json.loads(refusal[2])["problems"]


def test_a_sheet_for_changed_data_is_refused(settings, month):
    path = _export(settings)
    rows = standard_rows()
    rows[2] = charge_row(resource="test", billed="2.26", service="test-sandbox")
    load_month(settings, rows)
    filled = _fill(path, settings.review_dir / "late.csv", edits={"test": {"decision": "approve", "note": "ok"}})
    with pytest.raises(SheetRefused, match="changed since this sheet was exported"), \
            wh.connect(settings.warehouse_path) as con:
        apply_sheet(con, filled)


def test_sensor_plans_one_run_per_filled_sheet(settings, month):
    export = _export(settings, settings.review_dir / "review_2025-01_blank.csv")
    valid = {MONTH}
    requests, cursor = plan_sheet_runs(sheet_files(settings.review_dir), {}, valid)
    assert requests == [] and cursor == {}  # a blank export waits for decisions
    _fill(export, export, edits={"test": {"decision": "approve", "note": "ok"}})
    requests, cursor = plan_sheet_runs(sheet_files(settings.review_dir), {}, valid)
    (request,) = requests
    assert request.partition_key == MONTH
    assert request.run_config["ops"]["review_decisions"]["config"]["sheets"] == [str(export.resolve())]
    assert plan_sheet_runs(sheet_files(settings.review_dir), cursor, valid)[0] == []


def test_sensor_definition_evaluates(settings, month):
    export = _export(settings, settings.review_dir / "review_2025-01.csv")
    _fill(export, export, edits={"test": {"decision": "approve", "note": "ok"}})
    ocb = OcbConfig(config_path=str(settings.config_path))
    result = review_sheet_sensor(dg.build_sensor_context(cursor=None, resources={"ocb": ocb}))
    assert [r.partition_key for r in result.run_requests] == [MONTH]
    second = review_sheet_sensor(dg.build_sensor_context(cursor=result.cursor, resources={"ocb": ocb}))
    assert not second.run_requests and second.skip_reason
