"""The review state worked out from the validated lines (a month of a million lines: the queue in a tenth of the
time): the same charges, statuses and money as the full state over charges_validated, whatever the filters."""

from __future__ import annotations

import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.periods.reconcile import RECONCILE_SQL, reconcile
from ocb_pipelines.review import bulk
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review import state as rs
from ocb_pipelines.review import summary as review_summary
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.services import review as review_service
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month, standard_rows


class RecordingConnection:
    """A connection that keeps the SQL it was given."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, params=None):
        self.sql.append(sql)
        return self.con.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.con, name)


@pytest.fixture
def decided_month(settings, month):
    """The standard month with every kind of decision: approved, rejected (an unflagged charge), corrected, and a
    stale approval (its data changed since), plus an unflagged charge on another service."""
    rows = [*standard_rows(), charge_row(resource="ok-2", billed="3.00", service="Amazon S3")]
    load_month(settings, rows)
    with wh.connect(settings.warehouse_path) as con:
        ids = dict(con.execute("SELECT resource_id, charge_id FROM charges_validated").fetchall())
        rd.record_decisions(con, MONTH, [
            rd.Decision(ids["test"], "approve", "fine at 2.25"), rd.Decision(ids["ok"], "reject", "duplicate"),
            rd.Decision(ids["noproj"], "correct", "from the ticket", project_id="proj-q"),
        ], actor="alice", via="cli")
    rows[2] = charge_row(resource="test", billed="2250.00", service="test-sandbox")  # the approval goes stale
    load_month(settings, rows)
    return ids


FILTERS = [
    {}, {"reason": "missing_project"}, {"reason": "pattern_match"}, {"reason": rs.STALE_REASON},
    {"source": "AWS"}, {"pi": "pi.two@example.edu"}, {"project": "proj-q"}, {"service": "test-sandbox"},
    {"text": "sandbox"}, {"text": "ticket", "reason": "missing_project"}, {"service": "amazon s3", "source": "aws"},
]
STATUS_SETS = [("pending",), ("unflagged",), ("approved", "corrected"), ("rejected",), None]


@pytest.mark.parametrize("statuses", STATUS_SETS)
def test_the_queue_from_the_lines_is_the_full_state_filtered(settings, decided_month, statuses):
    with wh.connect(settings.warehouse_path) as con:
        for filters in FILTERS:
            where, params = rs.queue_filters(statuses=statuses, **filters)
            expected = con.execute(
                f"SELECT charge_id, review_status, queue_reasons, service_name, resource_id, row_hash FROM "
                f"({rs.STATE_SQL}) WHERE {where} ORDER BY billed_cost DESC, charge_id", {"month": MONTH, **params}
            ).fetchall()
            page = rs.charge_states(con, MONTH, statuses=statuses, **filters)
            got = [(c["charge_id"], c["review_status"], c["queue_reasons"], c["service_name"], c["resource_id"],
                    c["row_hash"]) for c in page]
            assert got == expected, filters
            count, billed = rs.count_states(con, MONTH, statuses=statuses, **filters)
            assert count == len(expected) and billed == sum((c["billed_cost"] for c in page), 0), filters
            if statuses == ("pending",) and filters:
                assert rd.select_charge_ids(con, MONTH, **{k: v for k, v in filters.items()}) == sorted(
                    c for c, *_ in expected)


def test_summaries_and_reconciliation_add_up_as_the_full_state_does(settings, decided_month):
    with wh.connect(settings.warehouse_path) as con:
        full = dict(((s, (n, b)) for s, n, b in con.execute(
            f"SELECT review_status, count(*), sum(billed_cost) FROM ({rs.STATE_SQL}) GROUP BY 1", {"month": MONTH}
        ).fetchall()))
        summary = review_summary.summarize_review(con, MONTH)
        assert summary.by_status == full
        assert {r["source"]: r["pending_rows"] for r in summary.by_source} == {"aws": full["pending"][0]}
        assert [s["resource_id"] for s in summary.stale] == ["test"]
        assert review_summary.pending_count(con, MONTH) == full["pending"]
        figures = reconcile(con, MONTH)
        assert figures.balanced and figures.pending_rows == full["pending"][0] and figures.rejected_rows == 1
        # Every raw row and line matched once, on integers (import key, row number), not twice on an import id.
        assert "ANTI JOIN" not in RECONCILE_SQL and "l.import_key = r.import_key" in RECONCILE_SQL
        state = review_summary.decision_state(con, MONTH)
        assert state.stale[0] == 1 and state.by_decision["reject"][0] == 1 and state.by_decision["correct"][0] == 1


def test_the_queue_and_the_summaries_read_the_raw_rows_only_for_what_they_show(settings, decided_month):
    """The queue's count, its summaries and the reconciliation never go through the charges_validated view (a
    join of every line to its raw row); a page reads the raw rows of its own charges only, and a filter on a
    raw row's column (service, free text) reads those of the lines the other filters kept."""
    with wh.connect(settings.warehouse_path) as con:
        recording = RecordingConnection(con)
        rs.count_states(recording, MONTH, reason="missing_project")
        review_summary.summarize_review(recording, MONTH)
        review_summary.decision_state(recording, MONTH)
        review_summary.pending_count(recording, MONTH)
        reconcile(recording, MONTH)
        rd.select_charge_ids(recording, MONTH, reason="missing_project")
        assert recording.sql and not [sql for sql in recording.sql if "charges_validated" in sql]
        assert "charges_validated" not in rs.state_relation_sql(["stale", "lower(source) = 'aws'"], ("pending",))
        raw = rs.state_relation_sql(["lower(service_name) = 'x'", "review_status = 'pending'"], ("pending",))
        inner, _, outer = raw.rpartition(wh.RAW_ROW_JOIN)  # the raw rows joined to what the other filters kept
        assert "charges_validated" not in raw and "review_status = 'pending'" in inner
        assert outer.endswith("WHERE (lower(service_name) = 'x')")


def test_a_bulk_decision_hashes_only_the_raw_rows_of_the_charges_it_records(settings, decided_month):
    """Recording a month's queue at once never goes through the charges_validated view (which hashes every line
    of the month); each decision still pins its charge's row_hash, and a sheet's pinned row_hash is still checked."""
    with wh.connect(settings.warehouse_path) as con:
        queue = rd.select_charge_ids(con, MONTH, everything=True)
        recording = RecordingConnection(con)
        outcome = bulk.record_bulk(recording, MONTH, [rd.Decision(c, "reject", "not ours") for c in queue],
                                   actor="bob", via="desk")
        rs.billed_of(recording, MONTH, outcome.recorded)
        assert sorted(outcome.recorded) == queue and not [s for s in recording.sql if "charges_validated" in s]
        pinned = dict(con.execute(
            "SELECT d.charge_id, d.row_hash = v.row_hash FROM review_decisions d JOIN charges_validated v "
            "USING (charge_id) WHERE d.actor = 'bob'").fetchall())
        assert sorted(pinned) == queue and all(pinned.values())
        wrong = rd.Decision(queue[0], "reject", "seen on a sheet", row_hash="0" * 32)
        assert rd.check_decisions(con, MONTH, [wrong]) == [
            f"charge {queue[0]}: the charge changed since it was shown to the reviewer; look at it again"]


def _stale(settings) -> dict[str, bool]:
    with wh.connect(settings.warehouse_path) as con:
        return {s["resource_id"]: s["stale"] for s in rs.charge_states(con, MONTH, statuses=None) if s["decision"]}


def test_decisions_name_their_import_and_older_ones_are_still_checked_by_hash(settings, month):
    """A decision keeps the import its line was validated from, so the state hashes a decided line's raw row again
    only once another import replaced it; decisions from before (no import named) are checked by hash as always."""
    with wh.connect(settings.warehouse_path) as con:
        rd.record_decisions(con, MONTH, [rd.Decision(month["test"], "approve", "fine"),
                                         rd.Decision(month["ok"], "reject", "duplicate")], actor="alice", via="cli")
        named = con.execute("SELECT count(*) FROM review_decisions d JOIN validated_lines v USING (charge_id) "
                            "WHERE d.import_id = v.import_id").fetchall()[0][0]
        assert named == 2
        con.execute("ALTER TABLE review_decisions DROP COLUMN import_id")  # as an older release wrote them
    with wh.connect(settings.warehouse_path) as con:  # the upgrade adds the column back, empty
        assert con.execute("SELECT count(*), count(import_id) FROM review_decisions").fetchall() == [(2, 0)]
    assert _stale(settings) == {"test": False, "ok": False}
    load_month(settings, list(reversed(standard_rows())))  # another import, the same rows: the same row_hash
    assert _stale(settings) == {"test": False, "ok": False}
    rows = standard_rows()
    rows[2] = charge_row(resource="test", billed="2250.00", service="test-sandbox")
    load_month(settings, rows)
    assert _stale(settings) == {"test": True, "ok": False}
    with wh.connect(settings.warehouse_path) as con:  # decided again: named import, not stale, not hashed again
        rd.record_decisions(con, MONTH, [rd.Decision(month["test"], "approve", "checked")], actor="alice", via="cli")
    assert _stale(settings) == {"test": False, "ok": False}
    load_month(settings, list(reversed(rows)))
    assert _stale(settings) == {"test": False, "ok": False}


def test_a_page_without_row_hashes_reads_only_the_columns_it_shows(settings, decided_month):
    """row_hash=False (the desk's queue page): no md5 of a raw row but a stale charge's (its explanation shows
    it); the rest as with row hashes. review_queue(summary=False) leaves out the month's summary and figures."""
    with wh.connect(settings.warehouse_path) as con:
        full = rs.charge_states(con, MONTH, statuses=None)
        recording = RecordingConnection(con)
        lean = rs.charge_states(recording, MONTH, statuses=None, row_hash=False)
    assert [{**s, "row_hash": None} for s in full if not s["stale"]] == [s for s in lean if not s["stale"]]
    assert [s for s in full if s["stale"]] == [s for s in lean if s["stale"]] and len(lean) == len(full) == 5
    shown = recording.sql[0].split(" FROM (", 1)[0]  # what the page reads of its raw rows
    assert "Tags" in shown and "md5(" not in shown and len(recording.sql) == 2  # then the stale one's row_hash
    queue = review_service.review_queue(app_context(settings), MONTH, summary=False, row_hash=False)
    assert queue.summary is None and queue.reconciliation is None and queue.sources == ["aws"]
    assert [c["charge_id"] for c in queue.charges] == [c["charge_id"] for c in full if c["review_status"] ==
                                                      "pending"]


def test_a_queue_page_counts_every_page_in_the_same_pass(settings, decided_month):
    """queue_page: the page and the count and money of every page in one query; past the last page, the count."""
    with wh.connect(settings.warehouse_path) as con:
        for filters in FILTERS:
            counted = rs.count_states(con, MONTH, **filters)
            every = rs.charge_states(con, MONTH, **filters)
            for offset in (0, 1, 5):
                recording = RecordingConnection(con)
                total, billed, page = rs.queue_page(recording, MONTH, limit=1, offset=offset, **filters)
                assert (total, billed) == counted and page == every[offset:offset + 1], (filters, offset)
                assert len(recording.sql) == (1 if page else 2)
