"""Every table is created in one place, `ensure_schema`, one module per domain: a new file gets them all, and
no module outside the warehouse package creates a table of its own."""

import re
from pathlib import Path

import duckdb

from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema import DOMAINS

PACKAGE = Path(__file__).resolve().parents[2] / "ocb_pipelines"

# What each domain's module creates (tables and views).
TABLES = {
    "ingest": {"import_files", "file_catalog", "imports", "focus_rows", "focus_raw"},
    "adjustments": {"late_imports", "late_rows", "adjustment_lines"},
    "invoices": {"invoice_lines"},
    "pricing": {"usage_rows", "late_usage_rows", "pricing_runs", "subsidy_applications"},
    "charges": {"validated_lines", "charges_validated"},
    "review": {"review_decisions", "review_sheets", "charges_approved"},
    "periods": {"billing_periods"},
    "statements": {"statements", "statement_fund_shares", "statement_files", "pi_history"},
    "ledger": {"journal_exports"},
    "delivery": {"delivery_log"},
    "audit": {"audit_events"},
}


def _tables(con) -> set[str]:
    return {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}


def test_ensure_schema_creates_every_domains_tables_on_a_new_file(tmp_path):
    with wh.connect(tmp_path / "new.duckdb") as con:
        created = _tables(con)
        wh.ensure_schema(con)  # again: nothing changes
        assert _tables(con) == created
        confirmed = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                                "WHERE table_name = 'delivery_log'").fetchall()}
    assert created == set().union(*TABLES.values())
    assert {"confirmed_by", "confirmed_at", "confirmed_reason"} <= confirmed  # delivery's upgrade ran too
    assert [d.__name__.rsplit(".", 1)[1] for d in DOMAINS] == list(TABLES)


def test_each_domain_module_creates_its_own_tables():
    """A domain's DDL holds that domain's tables (charges' view needs ingest's tables: built on top of them)."""
    for domain in DOMAINS:
        with duckdb.connect(":memory:") as con:
            con.execute(domain.DDL)
            name = domain.__name__.rsplit(".", 1)[1]
            views = {"ingest": {"focus_raw"}, "charges": {"charges_validated"}}.get(name, set())
            assert _tables(con) | views == TABLES[name], name


def test_no_module_outside_the_warehouse_creates_a_table():
    """Statements, ledger and delivery used to create their tables themselves; now only the warehouse does.
    (desk/ keeps the review desk's users and queued decisions in its own SQLite file, not in the warehouse.)"""
    create = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW|SEQUENCE)\b", re.IGNORECASE)
    found = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if path.relative_to(PACKAGE).parts[0] not in ("warehouse", "desk")
             and create.search(path.read_text("utf-8"))]
    assert found == []


def test_a_new_warehouse_stores_charge_ids_uncompressed(tmp_path):
    """Every charge_id is distinct hex: trying DuckDB's string compression on them cost more time than the bytes
    it saved, so a new warehouse's validated_lines stores them as they are (the other columns stay compressed)."""
    with wh.connect(tmp_path / "new.duckdb") as con:
        con.execute(
            "INSERT INTO validated_lines (charge_id, billing_month, source, file_name, file_row_number, "
            "charge_category, billing_currency, billed_cost, effective_cost, billing_period_start, billing_period_end, "
            "charge_period_start, charge_period_end, review_reasons, needs_review, validated_at) "
            "SELECT md5(i::VARCHAR), '2025-01', 'aws', 'f.csv', i, 'Usage', 'USD', 1, 1, TIMESTAMP '2025-01-01', "
            "TIMESTAMP '2025-02-01', TIMESTAMP '2025-01-01', TIMESTAMP '2025-01-02', [], false, now() "
            "FROM range(200000) t(i)")
        con.execute("CHECKPOINT")
        kinds = dict(con.execute(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('validated_lines') "
            "WHERE segment_type = 'VARCHAR' GROUP BY column_name").fetchall())
    assert kinds["charge_id"] == ["Uncompressed"]
    assert "Uncompressed" not in kinds["file_name"]
