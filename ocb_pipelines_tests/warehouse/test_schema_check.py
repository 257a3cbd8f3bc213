"""ensure_schema on every connection: a warehouse at this release's schema is only looked at (one catalog query,
then the data every connection keeps up); one that differs in any table, column, view version or sequence is
created and upgraded as before."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema import release_fingerprint, schema_fingerprint
from ocb_pipelines.warehouse.schema.charges import CHARGES_VALIDATED_VIEW_VERSION


class RecordingConnection:
    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, params=None):
        self.sql.append(sql)
        return self.con.execute(sql, params)


def test_an_up_to_date_warehouse_is_only_looked_at(tmp_path):
    path = tmp_path / "w.duckdb"
    with wh.connect(path) as con:
        assert schema_fingerprint(con) == release_fingerprint()
    with duckdb.connect(str(path)) as con:
        recording = RecordingConnection(con)
        wh.ensure_schema(recording)
    assert len(recording.sql) == 2 and "information_schema.columns" in recording.sql[0]
    assert not [s for s in recording.sql if any(w in s.upper() for w in ("CREATE", "ALTER", "DROP"))]
    assert recording.sql[1].startswith("INSERT INTO statement_files")  # the history import relies on it


def test_a_warehouse_that_differs_is_upgraded(tmp_path):
    path = tmp_path / "w.duckdb"
    with wh.connect(path) as con:
        con.execute("ALTER TABLE review_decisions DROP COLUMN import_id")
        con.execute("COMMENT ON VIEW charges_validated IS 'an older version'")
        con.execute("DROP TABLE journal_exports")
    with wh.connect(path) as con:
        assert schema_fingerprint(con) == release_fingerprint()
        assert con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'charges_validated'"
                           ).fetchall() == [(CHARGES_VALIDATED_VIEW_VERSION,)]
