"""Bulk decisions (--all, --reason, --source, --pi) decide every charge they can and leave the rest pending, counted
by cause; --strict is all or nothing; a refusal names at most 20 charges. Real CLI, real DuckDB warehouse."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month

CHARGE_ID = re.compile(r"\b[0-9a-f]{20}\b")


@pytest.fixture
def flagged_month(settings) -> dict[str, list[str]]:
    """2,000 charges flagged by a review pattern: 49 have no fund_org, 10 have no pi_email, the rest are complete."""
    rows = [charge_row(resource=f"test-{i:04d}", billed="1.25",
                       fund_org=None if i < 49 else "ABC-123456",
                       pi_email=None if 49 <= i < 59 else "pi.one@example.edu") for i in range(2000)]
    load_month(settings, rows)
    with wh.connect(settings.warehouse_path) as con:
        states = rd.charge_states(con, MONTH)
    assert len(states) == 2000  # all of them pending review
    return {
        "no_fund": sorted(s["charge_id"] for s in states if not s["fund_org"]),
        "no_pi": sorted(s["charge_id"] for s in states if not s["pi_email"]),
    }


def _run(settings, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)])


def _status_counts(settings) -> dict[str, int]:
    with wh.connect(settings.warehouse_path) as con:
        summary = rd.summarize_review(con, MONTH)
    return {s: summary.rows(s) for s in rd.STATUSES if summary.rows(s)}


def test_approve_all_approves_what_it_can_and_counts_the_rest_by_cause(settings, flagged_month):
    r = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "month checked", "--no-rebuild")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "approved 1,941 charge(s) in 2025-01 ($2,426.25) as tester"
    assert lines[1] == ("left 59 charge(s) pending ($73.75): 49 have no fund_org, 10 have no pi_email: "
                        "correct or reject them")
    assert len(lines) <= 6 and len(CHARGE_ID.findall(r.output)) == 20  # not 59 lines: at most 20 ids
    assert "and 29 more" in r.output and "10 have no pi_email: 10 not listed" in r.output
    assert _status_counts(settings) == {"approved": 1941, "pending": 59}


def test_bulk_json_lists_every_held_charge_by_cause(settings, flagged_month):
    r = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "ok", "--no-rebuild", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["ok"] and len(payload["decision_ids"]) == 1941 and payload["billed_total"] == "2426.250000000000"
    held = payload["held"]
    assert held["count"] == 59 and Decimal(held["billed_total"]) == Decimal("73.75")
    assert [(c["cause"], c["count"]) for c in held["by_cause"]] == [("49 have no fund_org", 49),
                                                                     ("10 have no pi_email", 10)]
    assert sorted(held["by_cause"][0]["charges"]) == flagged_month["no_fund"]
    assert sorted(held["by_cause"][1]["charges"]) == flagged_month["no_pi"]


def test_strict_is_all_or_nothing_and_names_at_most_20(settings, flagged_month):
    r = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "ok", "--strict", "--no-rebuild")
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == (
        "Error: --strict: 59 of 2,000 charge(s) cannot be approved (49 have no fund_org, 10 have no pi_email: "
        "correct or reject them); nothing was recorded")
    assert len(CHARGE_ID.findall(r.stderr)) == 20 and "and 29 more" in r.stderr
    assert _status_counts(settings) == {"pending": 2000}
    as_json = _run(settings, "review", "approve", "-p", MONTH, "--all", "--note", "ok", "--strict", "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ok"] is False


def test_filters_are_bulk_too_and_a_batch_with_nothing_decidable_fails(settings, flagged_month):
    r = _run(settings, "review", "correct", "-p", MONTH, "--reason", "missing_fund_org", "--set-fund", "ABC-654321",
             "--note", "fund from the grant office", "--no-rebuild", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["decision_ids"]) == 49, r.output
    r = _run(settings, "review", "approve", "-p", MONTH, "--pi", "PI.ONE@example.edu", "--note", "ok", "--no-rebuild")
    assert r.exit_code == 0 and r.output.startswith("approved 1,941 charge(s)") and "pending" not in r.output
    # only the ten without a PI are left: approving them decides nothing, says why, and fails (exit 1)
    r = _run(settings, "review", "approve", "-p", MONTH, "--source", "aws", "--note", "ok")
    assert r.exit_code == 1 and "approved 0 charge(s)" in r.output and "10 have no pi_email" in r.output
    assert "nothing was approved: all 10 selected charge(s) were left pending" in r.stderr
    r = _run(settings, "review", "correct", "-p", MONTH, "--all", "--set-project", "proj-b", "--note", "x",
             "--no-rebuild")
    assert r.exit_code == 1 and "10 would still have no pi_email after the correction" in r.output
    r = _run(settings, "review", "reject", "-p", MONTH, "--reason", "missing_pi_email", "--note", "no owner",
             "--no-rebuild")
    assert r.exit_code == 0 and r.output.startswith("rejected 10 charge(s)"), r.output
    assert _status_counts(settings) == {"approved": 1941, "corrected": 49, "rejected": 10}


def test_named_ids_stay_all_or_nothing_and_list_at_most_20(settings, flagged_month):
    args = [a for c in flagged_month["no_fund"][:30] for a in ("--id", c)]
    r = _run(settings, "review", "approve", "-p", MONTH, *args, "--note", "ok", "--no-rebuild")
    assert r.exit_code == 1
    problems = [line for line in r.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 21 and problems[-1] == "  - ... and 10 more"
    assert _status_counts(settings) == {"pending": 2000}
