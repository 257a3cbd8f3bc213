"""`ocb show PI -p` and `ocb sources list`."""

import json
from decimal import Decimal

from click.testing import CliRunner

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.main import cli
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import GOOD_TAGS, focus_row, write_focus

PI = GOOD_TAGS["pi_email"]


def _month(workdir, settings):
    rows = [focus_row(billed="10"), focus_row(billed="2.5", ResourceId="i-2"),
            focus_row(billed="4", ResourceName="test-x", ResourceId="i-3"),
            focus_row(billed="1", tags={**GOOD_TAGS, "project_id": "other"}, ResourceId="i-4")]
    path = write_focus(workdir / "aws_2025-01.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=["2025-01"], source="aws")
        import_file(con, write_focus(workdir / "lab_2025-01.csv", [focus_row(billed="3")]), months=["2025-01"],
                    source="lab")
        build_validated(con, "2025-01", rules_from(settings))
        (flagged,) = rd.select_charge_ids(con, "2025-01", reason="pattern_match")
        rd.record_decisions(con, "2025-01", [rd.Decision(flagged, "reject", "test box")], actor="t", via="cli")


def _invoke(workdir, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")], catch_exceptions=False)


def test_show_pi_by_project_with_statuses(workdir, settings):
    _month(workdir, settings)
    result = _invoke(workdir, "show", PI.upper(), "-p", "2025-01", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_project = {p["project"]: p for p in data["projects"]}
    assert by_project["astro-survey"]["charges"] == 4 and by_project["astro-survey"]["statuses"] == {
        "unflagged": 3, "rejected": 1}
    assert Decimal(data["billed_total"]) == Decimal("20.5") and Decimal(data["billable_total"]) == Decimal("16.5")
    text = _invoke(workdir, "show", PI, "-p", "2025-01").output
    assert "astro-survey" in text and "$16.50" in text
    assert _invoke(workdir, "show", "nobody@example.edu", "-p", "2025-01").exit_code == 1


def test_sources_list_shows_configured_and_unconfigured(workdir, settings):
    _month(workdir, settings)
    data = json.loads(_invoke(workdir, "sources", "list", "--json").stdout)
    by_name = {s["name"]: s for s in data["sources"]}
    assert by_name["aws"]["files"] == 1 and by_name["aws"]["rows"] == 4 and by_name["aws"]["configured"]
    assert by_name["azure"]["files"] == 0
    assert by_name["lab"]["configured"] is False
    assert "not in imports.known_sources" in _invoke(workdir, "sources", "list").output


def test_show_history_prints_their_months_as_billed(workdir, settings):
    _month(workdir, settings)
    with wh.connect(settings.warehouse_path) as con:
        build_approved(con, "2025-01")
    data = json.loads(_invoke(workdir, "show", PI, "-p", "2025-01", "--history", "--json").stdout)
    rows = {r["project"]: r for r in data["history"]["rows"]}
    assert data["history"]["months"] == ["2025-01"]
    # approved so far: astro-survey 10 + 2.5 (aws) + 3 (lab), other 1; the rejected test box is not billed
    assert Decimal(rows["astro-survey"]["billed"]) == Decimal("15.5") and rows["astro-survey"]["lines"] == 3
    assert Decimal(rows["other"]["billed"]) == Decimal("1")
    assert [Decimal(t["billed"]) for t in data["history"]["month_totals"]] == [Decimal("16.5")]
    text = _invoke(workdir, "show", PI, "-p", "2025-01", "--history").output
    assert "As billed, 2025-01 to 2025-01 (approved charges):" in text and "All projects" in text
    assert "history" not in json.loads(_invoke(workdir, "show", PI, "-p", "2025-01", "--json").stdout)
