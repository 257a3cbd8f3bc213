"""`ocb import-history`: an OpenChargeback billing.db (its real schema, written as its repository writes it) brought
in as finalized months, through the real CLI on a real DuckDB warehouse."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.main import cli
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.history.openchargeback_db import HistoryError, to_money, to_time
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods.reconcile import reconcile
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus
from ocb_pipelines_tests.history import scenario
from ocb_pipelines_tests.history.scenario import ADA, ADMIN, ALAN, GRACE, REVIEWER

TABLES = ("billing_periods", "imports", "import_files", "focus_rows", "validated_lines", "review_decisions",
          "charges_approved", "statements", "delivery_log", "journal_exports", "audit_events")


@pytest.fixture
def billing_db(tmp_path) -> Path:
    path = tmp_path / "ocb" / "billing.db"
    path.parent.mkdir()
    scenario.build(path)
    return path


@pytest.fixture
def env(workdir, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "migrator")
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    return workdir


def ocb(workdir, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")])


def ok_json(workdir, *args):
    result = ocb(workdir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def counts(settings) -> dict[str, int]:
    with wh.connect(settings.warehouse_path) as con:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] if t in present else None
                for t in TABLES}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_history_months_come_in_finalized_exact_and_reconciled(env, settings, billing_db):
    before = sha(billing_db)
    result = ok_json(env, "import-history", str(billing_db))
    assert result["ok"] and result["schema_version"] == 10
    months = {m["period"]: m for m in result["months"]}
    assert {p: m["status"] for p, m in months.items()} == {"2025-01": "imported", "2025-02": "imported",
                                                             "2025-03": "skipped"}
    assert "ocb ingest" in months["2025-03"]["message"]
    assert sha(billing_db) == before  # opened read-only

    # Money exact: the sums of what was written, not of OpenChargeback's floats (0.1 + 0.2, 100/3).
    jan_total, feb_total = scenario.total(scenario.BILLED_2025_01), scenario.total(scenario.BILLED_2025_02)
    assert Decimal(months["2025-01"]["billed_total"]) == jan_total == Decimal("1404.473333333333")
    assert Decimal(months["2025-01"]["rejected_total"]) == scenario.REJECTED_2025_01
    assert Decimal(months["2025-02"]["pending_total"]) == scenario.PENDING_2025_02
    with wh.connect(settings.warehouse_path) as con:
        for month, total in (("2025-01", jan_total), ("2025-02", feb_total)):
            figures = reconcile(con, month)
            assert figures.balanced, figures.problems()
            assert figures.imported_billed == figures.accounted_billed == total
        amounts = dict(con.execute("SELECT resource_id, billed_cost FROM charges_validated "
                                   "WHERE billing_month = '2025-01'").fetchall())
    assert amounts == {k: Decimal(v) for k, v in scenario.BILLED_2025_01.items()}

    # periods list: finalized, with OpenChargeback's who and when
    periods = {p["period"]: p for p in ok_json(env, "periods", "list")["periods"]}
    assert set(periods) == {"2025-01", "2025-02"}
    jan, feb = periods["2025-01"], periods["2025-02"]
    assert (jan["status"], jan["closed_by"], jan["finalized_by"]) == ("finalized", ADMIN, ADMIN)
    assert (feb["status"], feb["reopened_by"], feb["reopen_reason"]) == ("finalized", ADMIN, "late HPC file")
    assert feb["finalized_by"] == "openchargeback" and "closed in OpenChargeback" in feb["notes"]

    # show: by project and status; the mixed-case address is the same PI
    shown = {p["project"]: p for p in ok_json(env, "show", GRACE, "-p", "2025-01")["projects"]}
    assert shown["genomics"]["statuses"] == {"approved": 1, "unflagged": 1, "rejected": 1}
    assert Decimal(shown["genomics"]["billable"]) == Decimal(40)
    alan = ok_json(env, "show", ALAN, "-p", "2025-01")
    assert {p["project"] for p in alan["projects"]} == {"ml-infra", "(no project)"}
    assert Decimal(alan["billable_total"]) == Decimal("256.00")
    ada = ok_json(env, "show", ADA, "-p", "2025-01")
    assert Decimal(ada["billable_total"]) == Decimal("1096.133333333333")

    # review decisions with who and when (the CLI's approve-all recorded nobody)
    with wh.connect(settings.warehouse_path) as con:
        decisions = con.execute("SELECT decision, actor, decided_at, note, via FROM review_decisions "
                                "ORDER BY decision_id").fetchall()
        statements = con.execute("SELECT pi_email, project_id, billed_total FROM statements "
                                 "WHERE billing_month = '2025-01' ORDER BY 1, 2").fetchall()
        exports = con.execute("SELECT format, file_path, line_count, approved_exact, exported_by "
                              "FROM journal_exports").fetchall()
    assert [(d, a, n, v) for d, a, _, n, v in decisions] == [
        ("approve", REVIEWER, "fund on file: BIOL-200111", "openchargeback"),
        ("reject", REVIEWER, "sandbox, not billable", "openchargeback"),
        ("approve", "openchargeback", "approved in OpenChargeback", "openchargeback")]
    assert decisions[0][2] == datetime(2025, 2, 1, 9, 5)  # its reviewed_at, UTC
    assert statements == [("ada@example.edu", "astro-survey", Decimal("1096.133333333333")),
                          ("alan@example.edu", "(no project)", Decimal("5.25")),
                          ("alan@example.edu", "ml-infra", Decimal("250.75")),
                          ("grace@example.edu", "genomics", Decimal(40))]
    assert exports == [("openchargeback-gl", "journal_2025-01_gl_20250203.csv", 8, Decimal("1392.133333333333"),
                        ADMIN)]

    # deliveries and audit
    sent = ok_json(env, "deliveries", "list", "-p", "2025-01")["deliveries"]
    assert [(d["recipient"], d["status"]) for d in sent] == [(ADA, "sent"), (GRACE, "failed"), (ALAN, "written")]
    assert sent[1]["error"] == "SMTP 550: mailbox unavailable"
    events = ok_json(env, "audit", "-p", "2025-01")["events"]
    assert {e["actor"] for e in events} == {"openchargeback"}
    actions = [e["action"] for e in events]
    assert {"period_open", "import", "review_approve", "review_reject", "period_close", "statements_generate",
            "statements_send", "journal_export", "period_finalize"} <= set(actions)
    assert actions[-1] == "history_import" and events[-1]["details"]["imported_by"] == "migrator"
    approval = next(e for e in events if e["action"] == "review_approve")
    assert approval["details"]["by"] == REVIEWER and approval["occurred_at"].startswith("2025-02-01 09:05")

    # what was sent there is not sent again from here
    resent = ocb(env, "send", "-p", "2025-01")
    assert resent.exit_code == 1 and "came from OpenChargeback (`ocb import-history`)" in resent.stderr


def test_a_second_run_changes_nothing_and_says_so(env, settings, billing_db):
    assert ocb(env, "import-history", str(billing_db)).exit_code == 0
    before = counts(settings)
    again = ocb(env, "import-history", str(billing_db))
    assert again.exit_code == 0, again.output
    assert "2025-01  unchanged" in again.output and "nothing changed" in again.output
    assert counts(settings) == before


def test_a_month_that_exists_here_is_refused_not_merged(env, settings, billing_db):
    path = write_focus(env / "aws_2025-01.csv", [focus_row(billed="9.99")])
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
    result = ocb(env, "import-history", str(billing_db), "--json")
    assert result.exit_code == 1
    months = {m["period"]: m for m in json.loads(result.stdout)["months"]}
    assert months["2025-01"]["status"] == "refused" and months["2025-02"]["status"] == "imported"
    assert "billing month 2025-01 already exists here (open" in months["2025-01"]["message"]
    assert "refused, not merged" in months["2025-01"]["message"]
    assert "1 month(s) refused: 2025-01" in result.stderr
    with wh.connect(settings.warehouse_path) as con:
        assert reconcile(con, "2025-01").imported_billed == Decimal("9.99")  # untouched
        assert wh.period_status(con, "2025-01") == "open"


def test_a_month_changed_in_openchargeback_after_its_import_is_refused(env, settings, billing_db):
    assert ocb(env, "import-history", str(billing_db), "-p", "2025-01").exit_code == 0
    before = counts(settings)
    with sqlite3.connect(billing_db) as con:
        con.execute("UPDATE charges SET billed_cost = 41.0 WHERE resource_id = 'i-0004'")
    result = ocb(env, "import-history", str(billing_db), "-p", "2025-01")
    assert result.exit_code == 1
    assert "2025-01 was imported from OpenChargeback on" in result.output and "has changed there since" in result.output
    assert counts(settings) == before


def test_local_times_are_read_in_the_given_zone(env, settings, billing_db):
    assert ocb(env, "import-history", str(billing_db), "--timezone", "America/New_York").exit_code == 0
    with wh.connect(settings.warehouse_path) as con:
        first = con.execute("SELECT decided_at FROM review_decisions ORDER BY decision_id LIMIT 1").fetchall()[0][0]
    assert first == datetime(2025, 2, 1, 14, 5)  # 09:05 in New York, EST
    bad = ocb(env, "import-history", str(billing_db), "--timezone", "Mars/Base")
    assert bad.exit_code == 1 and "not an IANA time zone" in bad.stderr


@pytest.mark.parametrize("content,expected", [
    (b"not a database at all, just text" * 100, "not a SQLite database"),
    (None, "not OpenChargeback's database (no table sources; no table charges)"),
])
def test_a_file_that_is_not_openchargeback_s_database_is_refused(env, tmp_path, content, expected):
    path = tmp_path / "other.db"
    if content is None:
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE billing_periods (id INTEGER, period TEXT, status TEXT)")
    else:
        path.write_bytes(content)
    result = ocb(env, "import-history", str(path))
    assert result.exit_code == 1 and expected in result.stderr and "Traceback" not in result.output
    missing = ocb(env, "import-history", str(tmp_path / "nope.db"))
    assert missing.exit_code == 1 and "nope.db: file not found" in missing.stderr


def test_bad_stored_values_name_table_row_column_and_value(env, settings, billing_db):
    with sqlite3.connect(billing_db) as con:
        con.execute("UPDATE charges SET billed_cost = 'twelve' WHERE resource_id = 'i-0002'")
    result = ocb(env, "import-history", str(billing_db), "-p", "2025-01")
    assert result.exit_code == 1
    assert "billing.db: charges id 2, column billed_cost: value 'twelve' is not an amount" in result.output
    assert counts(settings)["validated_lines"] == 0


def test_an_older_schema_without_later_columns_imports(env, settings, billing_db):
    """Columns its later schema versions added (references, who rejected, a statement's fund) read as NULL."""
    with sqlite3.connect(billing_db) as con:
        for table, column in (("charges", "reference_1"), ("charges", "reference_2"), ("charges", "rejected_by"),
                              ("statements", "fund_org"), ("billing_periods", "reopen_reason")):
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    result = ok_json(env, "import-history", str(billing_db))
    assert [m["status"] for m in result["months"]] == ["imported", "imported", "skipped"]
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT actor FROM review_decisions WHERE decision = 'reject'").fetchall() == [
            (REVIEWER,)]  # no rejected_by: who rejected it comes from the web's review log
        assert reconcile(con, "2025-01").imported_billed == scenario.total(scenario.BILLED_2025_01)


def test_float_amounts_round_from_their_shortest_repr_to_12_places():
    assert to_money(0.1 + 0.2, "t") == Decimal("0.3")
    assert to_money(100 / 3, "t") == Decimal("33.333333333333")
    assert to_money(1062.5, "t") == Decimal("1062.5") and to_money(12, "t") == Decimal(12)
    assert to_money(1e-13, "t") == 0 and str(to_money(-0.0, "t")) == "0E-12"
    assert to_money("19.99", "t") == Decimal("19.99")
    assert to_money(12345678901234567890123.25, "t") == Decimal("12345678901234568000000")  # the float's digits
    for bad in (float("nan"), float("inf"), "x", 1e30):
        with pytest.raises(HistoryError, match="t: value"):
            to_money(bad, "t")
    assert to_time("2025-02-01 09:14:00.000000", "t", datetime.now().astimezone().tzinfo) is not None
    with pytest.raises(HistoryError, match="not a date and time"):
        to_time("yesterday", "t", datetime.now().astimezone().tzinfo)


def test_a_first_run_creates_the_warehouse_only_with_init(tmp_path, billing_db, monkeypatch):
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_text((Path(__file__).resolve().parents[2] / "config.example.yaml").read_text())
    refused = ocb(fresh, "import-history", str(billing_db))
    assert refused.exit_code == 1 and "no warehouse at" in refused.stderr
    assert not (fresh / "data" / "warehouse.duckdb").exists()
    created = ocb(fresh, "import-history", str(billing_db), "--init", "-p", "2025-02")
    assert created.exit_code == 0, created.output
    assert "2025-02  imported" in created.output and (fresh / "data" / "warehouse.duckdb").is_file()
