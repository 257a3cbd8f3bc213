"""The review-reason registry is the one place a reason lives: an entry added to it is detected by the
validation SQL, offered as a filter and labelled, with no other change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core import review_reasons as registry
from ocb_pipelines.core.review_reasons import ReviewReason, reason_help, reason_label
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.services import review as svc
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import GOOD_TAGS, focus_row, write_focus

FREE_LINE = ReviewReason(
    "list_price_missing", "billed without a list price", "A non-zero bill whose list price is zero: check it.",
    "line", 'CAST("ListCost" AS DECIMAL(38, 12)) = 0 AND CAST("BilledCost" AS DECIMAL(38, 12)) <> 0')
NO_CENTER = ReviewReason("missing_cost_center", "no cost center tag", "No cost_center in the Tags.", "tag",
                         "cost_center IS NULL")


def _import(tmp_path, settings) -> None:
    no_center = {k: v for k, v in GOOD_TAGS.items() if k != "cost_center"}
    rows = [focus_row(billed="3.00", ResourceId="free", ListCost="0", tags=no_center),
            focus_row(billed="4.00", ResourceId="plain", ListCost="4.00", tags=GOOD_TAGS),
            focus_row(billed="5.00", ResourceId="test-box", ResourceName="test-1", ListCost="0", tags=no_center)]
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=["2025-01"], source="aws")


def _reasons(settings) -> dict[str, list[str]]:
    """Validate the month again and return each line's reasons."""
    with wh.connect(settings.warehouse_path) as con:
        build_validated(con, "2025-01", rules_from(settings))
        return dict(con.execute("SELECT resource_id, review_reasons FROM charges_validated").fetchall())


def test_a_reason_added_to_the_registry_is_detected_filtered_and_labelled(tmp_path, settings, monkeypatch):
    _import(tmp_path, settings)
    assert _reasons(settings) == {"free": [], "plain": [], "test-box": ["pattern_match:^test-"]}
    monkeypatch.setattr(registry, "REASONS", (*registry.REASONS, NO_CENTER, FREE_LINE))
    found = _reasons(settings)
    # tag-level reasons first, then line-level ones, each in the registry's order
    assert found == {
        "free": ["missing_cost_center", "list_price_missing"],
        "plain": [],
        "test-box": ["missing_cost_center", "pattern_match:^test-", "list_price_missing"],
    }
    assert reason_label("list_price_missing") == "billed without a list price"
    assert reason_help("missing_cost_center") == "No cost_center in the Tags."
    assert {"list_price_missing", "missing_cost_center"} <= {r["code"] for r in svc.list_review_reasons()}
    queue = svc.review_queue(app_context(settings, actor="t"), "2025-01", reason="list_price_missing")
    assert queue.total == 2 and {c["resource_id"] for c in queue.charges} == {"free", "test-box"}


def test_labels_of_per_pattern_and_unknown_reasons():
    assert reason_label("pattern_match:^test-") == "matches review pattern ^test-"
    assert reason_label("stale_decision") == "a decision was made on data that has since changed"
    assert reason_label("no_such_reason") == "no_such_reason" and reason_help("no_such_reason") == ""


def test_an_entry_must_say_how_it_is_detected():
    with pytest.raises(ValueError, match="needs its SQL condition"):
        ReviewReason("x", "x", "x", "line")
    with pytest.raises(ValueError, match="level 'row'"):
        ReviewReason("x", "x", "x", "row", "true")


def test_the_review_guide_lists_every_registered_reason():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "review.md").read_text(encoding="utf-8")
    section = guide.split("## Why a charge is flagged", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)(?::<regex>)?` \|", section, re.M))
    assert listed == {r.code for r in registry.reasons()}
