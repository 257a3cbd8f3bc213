"""A warehouse created before focus_raw and charges_validated became views (or before row_hash was worked out when
read) keeps every row and value when opened."""

from decimal import Decimal

from ocb_pipelines.charges.validate import build_validated, validated_is_current
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _as_before_the_views(con) -> None:
    """Turn a warehouse back into the old shape: focus_raw a table with lineage on every row and extras in a MAP,
    charges_validated a table with every column; no imports, focus_rows or validated_lines."""
    con.execute("CREATE TABLE old_charges AS SELECT * FROM charges_validated")
    con.execute("CREATE TABLE old_raw AS SELECT * REPLACE (CAST(x_columns AS MAP(VARCHAR, VARCHAR)) AS x_columns) "
                "FROM focus_raw")
    con.execute("DROP VIEW charges_validated")
    con.execute("DROP VIEW focus_raw")
    for table in ("validated_lines", "focus_rows", "imports"):
        con.execute(f"DROP TABLE {table}")
    con.execute("ALTER TABLE old_charges RENAME TO charges_validated")
    con.execute("ALTER TABLE old_raw RENAME TO focus_raw")


def _kinds(con) -> list[tuple]:
    return con.execute("SELECT table_name, table_type FROM information_schema.tables "
                       "WHERE table_name IN ('focus_raw', 'charges_validated') ORDER BY 1").fetchall()


def test_tables_become_views_keeping_rows(tmp_path, settings):
    db = tmp_path / "w.duckdb"
    january = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(billed="3.25", ResourceId="i-0def")],
                          extra=["x_ServiceCode"])
    both = write_focus(tmp_path / "azure_2025-02.csv", [focus_row("2025-01"), focus_row("2025-02")])
    raw = "SELECT * FROM focus_raw ORDER BY source, billing_month, file_row_number"
    with wh.connect(db) as con:
        import_file(con, january, months=["2025-01"], source="aws")
        import_file(con, both, months=["2025-01", "2025-02"], source="azure")
        build_validated(con, "2025-01", rules_from(settings))
        before = con.execute("SELECT * FROM charges_validated ORDER BY source, file_row_number").fetchall()
        raw_before = con.execute(raw).fetchall()
        _as_before_the_views(con)
        assert _kinds(con) == [("charges_validated", "BASE TABLE"), ("focus_raw", "BASE TABLE")]
    with wh.connect(db) as con:  # opening the warehouse upgrades it
        kinds = _kinds(con)
        after = con.execute("SELECT * FROM charges_validated ORDER BY source, file_row_number").fetchall()
        raw_after = con.execute(raw).fetchall()
        imports = con.execute("SELECT source, billing_month FROM imports ORDER BY 1, 2").fetchall()
        linked = con.execute("SELECT count(*) FROM validated_lines WHERE import_id IS NOT NULL").fetchall()
        current = validated_is_current(con, "2025-01")
    assert kinds == [("charges_validated", "VIEW"), ("focus_raw", "VIEW")]
    assert after == before and len(after) == 3
    assert raw_after == raw_before and len(raw_after) == 4
    assert imports == [("aws", "2025-01"), ("azure", "2025-01"), ("azure", "2025-02")]
    assert linked == [(3,)] and current


def test_descriptive_columns_come_from_the_raw_row_validated(tmp_path, settings):
    """The view's names and ids are those of the very rows validated; amounts never depend on the join."""
    db = tmp_path / "w.duckdb"
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(ResourceId="i-0abc", ServiceName="Amazon EC2")])
    with wh.connect(db) as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        assert con.execute("SELECT resource_id, service_name, billed_cost FROM charges_validated").fetchall() == [
            ("i-0abc", "Amazon EC2", Decimal("10.5"))]
        # A corrected file replaces the raw row; until the month is validated again its charge keeps its amount.
        write_focus(path, [focus_row(ResourceId="i-0new", ServiceName="Amazon S3", billed="11")])
        import_file(con, path, months=["2025-01"], source="aws")
        stale = con.execute("SELECT resource_id, billed_cost FROM charges_validated").fetchall()
        assert not validated_is_current(con, "2025-01")
        build_validated(con, "2025-01", rules_from(settings))
        fresh = con.execute("SELECT resource_id, service_name, billed_cost FROM charges_validated").fetchall()
    assert stale == [(None, Decimal("10.5"))]
    assert fresh == [("i-0new", "Amazon S3", Decimal(11))]


def test_stored_row_hash_and_lineage_give_way_to_the_raw_row(tmp_path, settings):
    """A warehouse from before row_hash was worked out when read: validated_lines and charges_approved lose the
    stored copies, and the view gives the same values from the raw rows (decisions pinned to them hold)."""
    db = tmp_path / "w.duckdb"
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(billed="3.25", ResourceId="i-0def")])
    query = "SELECT charge_id, row_hash, file_sha256, focus_version, expected_period FROM charges_validated ORDER BY 1"
    with wh.connect(db) as con:
        import_file(con, path, months=["2025-01"], source="aws", expected_period="2025-01")
        build_validated(con, "2025-01", rules_from(settings))
        before = con.execute(query).fetchall()
        for column in ("row_hash", "file_sha256", "focus_version", "expected_period"):  # the old shape, filled
            con.execute(f"ALTER TABLE validated_lines ADD COLUMN {column} VARCHAR")
            con.execute(f"UPDATE validated_lines v SET {column} = c.{column} FROM charges_validated c "
                        "WHERE c.charge_id = v.charge_id")
        con.execute("ALTER TABLE charges_approved ADD COLUMN row_hash VARCHAR")
        con.execute("CREATE OR REPLACE VIEW charges_validated AS SELECT * FROM validated_lines")  # no version
    with wh.connect(db) as con:  # opening the warehouse upgrades it
        after = con.execute(query).fetchall()
        columns = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_name IN ('validated_lines', 'charges_approved')").fetchall()}
        comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'charges_validated'").fetchall()
    assert after == before and len(after) == 2 and before[0][1] and before[0][4] == "2025-01"
    assert not columns & {("validated_lines", "row_hash"), ("validated_lines", "file_sha256"),
                          ("charges_approved", "row_hash")}
    assert comment == [(wh.CHARGES_VALIDATED_VIEW_VERSION,)]
