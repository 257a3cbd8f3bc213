"""Billing-period lifecycle at the data layer and through `ocb periods`: every allowed and forbidden move."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.main import cli
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH


def _con(settings):
    return wh.connect(settings.warehouse_path)


def _add_statement(con, month=MONTH):
    """A statements row of the month (the statements domain's table, created with the warehouse's schema)."""
    con.execute(
        "INSERT INTO statements (billing_month, pi_email, project_id, statement_key, pdf_path, csv_path, "
        "content_sha256, pdf_sha256, csv_sha256, line_count, list_total, discount_total, billed_total, credits_total, "
        "discount_percent, currency, fund_orgs, references_1, references_2, generated_at, generated_by) "
        "VALUES (?, 'pi.one@example.edu', 'proj', 'k', 'a.pdf', 'a.csv', 's', 's', 's', 1, 1, 0, 1, 0, 0, 'USD', "
        "[], [], [], now(), 'x')",
        [month],
    )


def test_full_lifecycle_keeps_notes_who_and_when(settings, clean_month):
    with _con(settings) as con:
        lc.open_period(con, MONTH, "ann", notes="first note")
        lc.close_period(con, MONTH, "bob", notes="all reviewed")
        lc.reopen_period(con, MONTH, "cat", reason="late AWS credit")
        lc.close_period(con, MONTH, "bob")
        _add_statement(con)
        final = lc.finalize_period(con, MONTH, "dan", notes="sent to accounting")
        actions = con.execute("SELECT actor, action FROM audit_events WHERE action LIKE 'period_%' "
                              "ORDER BY event_id").fetchall()
    assert final.status == "finalized" and final.finalized_by == "dan" and final.closed_by == "bob"
    assert final.reopened_by == "cat" and final.reopen_reason == "late AWS credit"
    notes = final.notes.splitlines()
    assert [n.split("] ", 1)[1] for n in notes] == ["first note", "all reviewed", "late AWS credit",
                                                      "sent to accounting"]
    assert "bob closed" in notes[1]
    assert actions == [("ann", "period_note"), ("bob", "period_close"), ("cat", "period_reopen"),
                       ("bob", "period_close"), ("dan", "period_finalize")]


@pytest.mark.parametrize(
    ("setup", "move", "expected"),
    [
        ([], "finalize", "is open; close it first"),
        ([], "reopen", "is already open"),
        (["close"], "close", "already closed"),
        (["close"], "open", "reopen it with"),
        (["close", "finalize"], "reopen", "finalized and can never change"),
        (["close", "finalize"], "close", "finalized and can never change"),
        (["close", "finalize"], "open", "finalized and can never change"),
        (["close", "finalize"], "finalize", "already finalized"),
    ],
)
def test_forbidden_transitions(settings, clean_month, setup, move, expected):
    actions = {
        "open": lambda con: lc.open_period(con, MONTH, "x"),
        "close": lambda con: lc.close_period(con, MONTH, "x"),
        "reopen": lambda con: lc.reopen_period(con, MONTH, "x", reason="r"),
        "finalize": lambda con: lc.finalize_period(con, MONTH, "x"),
    }
    with _con(settings) as con:
        _add_statement(con)
        for step in setup:
            actions[step](con)
        before = lc.get_period(con, MONTH)
        with pytest.raises(lc.PeriodTransitionError, match=expected):
            actions[move](con)
        assert lc.get_period(con, MONTH) == before


def test_close_needs_nothing_pending(settings, flagged_month):
    with _con(settings) as con:
        with pytest.raises(lc.PeriodTransitionError, match=r"1 charge\(s\) \(\$3.30\) pending review"):
            lc.close_period(con, MONTH, "x")
        (charge,) = rd.select_charge_ids(con, MONTH, everything=True)
        rd.record_decisions(con, MONTH, [rd.Decision(charge, "reject", "ok")], actor="x", via="cli")
        assert lc.close_period(con, MONTH, "x").status == "closed"


def test_reopen_needs_a_reason(settings, clean_month):
    with _con(settings) as con:
        lc.close_period(con, MONTH, "x")
        for reason in (None, "", "   "):
            with pytest.raises(lc.PeriodTransitionError, match="needs a reason"):
                lc.reopen_period(con, MONTH, "x", reason)


def test_finalize_preconditions_hook(settings, clean_month):
    with _con(settings) as con:
        lc.close_period(con, MONTH, "x")
        assert lc.finalize_preconditions(con, MONTH) == [f"generate statements first: no statements exist for "
                                                          f"{MONTH} yet"]
        with pytest.raises(lc.PeriodTransitionError, match="generate statements first"):
            lc.finalize_period(con, MONTH, "x")
        _add_statement(con, "2025-02")
        assert lc.finalize_preconditions(con, MONTH)
        _add_statement(con)
        assert lc.finalize_preconditions(con, MONTH) == []


def test_unknown_and_malformed_periods(settings):
    with _con(settings) as con:
        with pytest.raises(lc.PeriodTransitionError, match="does not exist yet"):
            lc.close_period(con, "2030-01", "x")
        with pytest.raises(lc.PeriodTransitionError, match="not a billing month"):
            lc.open_period(con, "2025-13", "x")
        assert lc.open_period(con, "2030-01", "x").status == "open"


@pytest.mark.parametrize("status", ["closed", "finalized"])
def test_writes_into_a_locked_month_are_refused(settings, flagged_month, status):
    with _con(settings) as con:
        (charge,) = rd.select_charge_ids(con, MONTH, everything=True)
        rd.record_decisions(con, MONTH, [rd.Decision(charge, "reject", "ok")], actor="x", via="cli")
        lc.close_period(con, MONTH, "x")
        if status == "finalized":
            _add_statement(con)
            lc.finalize_period(con, MONTH, "x")
        with pytest.raises(wh.PeriodLockedError, match=f"is {status}"):
            rd.record_decisions(con, MONTH, [rd.Decision(charge, "reject", "late")], actor="x", via="cli")
        before = con.execute("SELECT * FROM charges_validated ORDER BY charge_id").fetchall()
        build_validated(con, MONTH, rules_from(settings))  # nothing imported since: a no-op, not a write
        assert con.execute("SELECT * FROM charges_validated ORDER BY charge_id").fetchall() == before
        con.execute("DELETE FROM validated_lines")  # out of date: rebuilding would change a locked month
        with pytest.raises(wh.PeriodLockedError, match=f"is {status}"):
            build_validated(con, MONTH, rules_from(settings))
        # A late file is kept apart and booked in the next open month (ingest/test_late.py): this month stays.
        raw = con.execute("SELECT * FROM focus_rows WHERE billing_month = ? ORDER BY ALL", [MONTH]).fetchall()
        late = write_focus_csv(settings.inbox_dir / "aws_late.csv", [charge_row(resource="late")])
        (result,) = import_file(con, late, months=[MONTH], source="aws")
        assert result.status == "late" and "booked in 2025-02" in result.message
        assert con.execute("SELECT * FROM focus_rows WHERE billing_month = ? ORDER BY ALL", [MONTH]).fetchall() == raw
        assert con.execute("SELECT count(*) FROM review_decisions").fetchall() == [(1,)]


def _cli(settings, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)])


def test_cli_periods(settings, flagged_month):
    listed = json.loads(_cli(settings, "periods", "list", "--json").output)
    assert [p["status"] for p in listed["periods"]] == ["open"]
    refused = _cli(settings, "periods", "close", MONTH)
    assert refused.exit_code == 1 and "pending review" in refused.output and "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    with _con(settings) as con:
        (charge,) = rd.select_charge_ids(con, MONTH, everything=True)
        rd.record_decisions(con, MONTH, [rd.Decision(charge, "reject", "ok")], actor="x", via="cli")
    closed = _cli(settings, "periods", "close", MONTH, "--notes", "done", "--json")
    assert closed.exit_code == 0 and json.loads(closed.output)["closed_by"] == "admin.one"
    no_reason = _cli(settings, "periods", "reopen", MONTH)
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output
    finalize = _cli(settings, "periods", "finalize", MONTH, "--json")
    assert finalize.exit_code == 1 and "generate statements first" in json.loads(finalize.stdout)["error"]
    assert _cli(settings, "periods", "reopen", MONTH, "--reason", "late credit").exit_code == 0
    text = _cli(settings, "periods", "list")
    assert "reopened" in text.output and "late credit" in text.output
    audit = json.loads(_cli(settings, "audit", "-p", MONTH, "--json").output)["events"]
    assert [e["action"] for e in audit if e["action"].startswith("period_")] == ["period_close", "period_reopen"]
