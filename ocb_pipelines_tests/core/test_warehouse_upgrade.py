"""A warehouse created before charges_validated became a view keeps every validated charge when opened."""

from decimal import Decimal

from ocb_pipelines.charges.assets import rules_from
from ocb_pipelines.charges.validate import build_validated, validated_is_current
from ocb_pipelines.core import warehouse as wh
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _as_before_the_view(con) -> None:
    """Turn a warehouse back into the old shape: charges_validated a table with every column, no validated_lines."""
    con.execute("CREATE TABLE old_charges AS SELECT * FROM charges_validated")
    con.execute("DROP VIEW charges_validated")
    con.execute("DROP TABLE validated_lines")
    con.execute("ALTER TABLE old_charges RENAME TO charges_validated")


def test_validated_table_becomes_view_keeping_rows(tmp_path, settings):
    db = tmp_path / "w.duckdb"
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(billed="3.25", ResourceId="i-0def")])
    with wh.connect(db) as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        before = con.execute("SELECT * FROM charges_validated ORDER BY file_row_number").fetchall()
        _as_before_the_view(con)
        assert con.execute("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'charges_validated'").fetchall() == [("BASE TABLE",)]
    with wh.connect(db) as con:  # opening the warehouse upgrades it
        kind = con.execute("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'charges_validated'").fetchall()
        after = con.execute("SELECT * FROM charges_validated ORDER BY file_row_number").fetchall()
        linked = con.execute("SELECT count(*) FROM validated_lines WHERE import_id IS NOT NULL").fetchall()
        current = validated_is_current(con, "2025-01")
    assert kind == [("VIEW",)]
    assert after == before and len(after) == 2
    assert linked == [(2,)] and current


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
