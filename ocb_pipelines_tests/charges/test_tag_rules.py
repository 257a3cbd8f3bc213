"""Issue 18.11: Tags JSON that repeats a key is flagged `invalid_tags`, not read silently (DuckDB keeps the
first value, Python and JavaScript the last). The row stays imported and billable after review: its money is
in the month, held back as pending."""

from __future__ import annotations

import json
from decimal import Decimal

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import GOOD_TAGS, focus_row, write_focus

CLEAN = json.dumps(GOOD_TAGS)
TWO_PIS = CLEAN[:-1] + ', "pi_email": "eve@example.edu"}'
ESCAPED_TWIN = CLEAN[:-1] + ', "\\u0070i_email": "eve@example.edu"}'  # the same key, spelt with an escape
UNUSED_TWIN = CLEAN[:-1] + ', "team": "a", "team": "b"}'  # a key no mapping reads: still ambiguous data
NESTED = json.dumps({**GOOD_TAGS, "meta": {"x": 1}})[:-2] + ', "x": 2}}'  # a repeat inside a value: not a tag
NEAR_TWINS = CLEAN[:-1] + ', " Pi_Email ": "eve@example.edu"}'  # different keys (the exact one is read)


def test_tags_that_repeat_a_key_go_to_review_with_their_money(tmp_path, settings):
    tags = [CLEAN, TWO_PIS, ESCAPED_TWIN, UNUSED_TWIN, NESTED, NEAR_TWINS]
    rows = [focus_row(billed=f"{i + 1}.25", tags=t, ResourceId=f"r{i}") for i, t in enumerate(tags)]
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        found = dict(con.execute(
            "SELECT resource_id, list_contains(review_reasons, 'invalid_tags') FROM charges_validated").fetchall())
        billed = con.execute("SELECT sum(billed_cost) FROM charges_validated").fetchall()[0][0]
    assert found == {"r0": False, "r1": True, "r2": True, "r3": True, "r4": False, "r5": False}
    assert billed == sum(Decimal(f"{i + 1}.25") for i in range(len(tags)))
