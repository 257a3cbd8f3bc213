"""`ocb unbilled -p M [--json] [--csv]`: the month's unbilled charges by source and reason, through the CLI."""

import csv
import io
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

MONTH = "2025-01"


def _month(workdir, settings):
    """aws: 10 billed, 4 rejected (a test box), 2 with no PI (pending); lab: 3 priced at 0 for a list of 5."""
    aws = write_focus(workdir / "aws_2025-01.csv", [
        focus_row(billed="10"), focus_row(billed="4", ResourceName="test-x", ResourceId="i-3"),
        focus_row(billed="2", ResourceId="=cmd|' /C calc'!A0", tags={**GOOD_TAGS, "pi_email": ""})])
    lab = write_focus(workdir / "lab_2025-01.csv", [focus_row(billed="0", ListCost="5", ResourceId="node-7")])
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, aws, months=[MONTH], source="aws")
        import_file(con, lab, months=[MONTH], source="lab")
        build_validated(con, MONTH, rules_from(settings))
        (flagged,) = rd.select_charge_ids(con, MONTH, reason="pattern_match")
        rd.record_decisions(con, MONTH, [rd.Decision(flagged, "reject", "test box")], actor="t", via="cli")
        build_approved(con, MONTH)


def _invoke(workdir, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")])


def test_unbilled_prints_groups_and_the_reconciliation(workdir, settings, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    _month(workdir, settings)
    result = _invoke(workdir, "unbilled", "-p", MONTH)
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == "2025-01 (open): unbilled charges by source and reason"
    assert "aws rejected 1 charge(s) billed $4.00 list $12.00" in lines
    assert "aws ownerless 1 charge(s) billed $2.00 list $12.00" in lines
    assert "lab zero_priced 1 charge(s) billed $0.00 list $5.00" in lines
    assert "imported $16.00 (4 rows) = approved $10.00 + pending $2.00 + rejected $4.00" in lines
    assert any(x.startswith("not billed $6.00 (2 charge(s)): rejected $4.00, ownerless $2.00") for x in lines)
    assert not (settings.output.journal_dir).exists()  # reading writes nothing


def test_unbilled_json_is_exact_and_csv_goes_to_the_journal_folder(workdir, settings, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    _month(workdir, settings)
    result = _invoke(workdir, "unbilled", "-p", MONTH, "--json", "--csv")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["reconciled"] is True and payload["problems"] == []
    assert [(g["source"], g["reason"], g["charges"], g["billed"]) for g in payload["groups"]] == [
        ("aws", "rejected", 1, "4.000000000000"), ("aws", "ownerless", 1, "2.000000000000"),
        ("lab", "zero_priced", 1, "0.000000000000")]
    totals = {k: v for k, v in payload["totals"].items() if k != "reasons"}
    imported = Decimal(totals["imported"]["billed"])
    assert imported == sum(Decimal(totals[s]["billed"]) for s in ("approved", "pending", "rejected")) == 16
    assert Decimal(totals["billed_to_statements"]["billed"]) + Decimal(totals["not_billed"]["billed"]) == imported
    hostile = next(x for x in payload["lines"] if x["reason"] == "ownerless")
    assert hostile["resource"] == "=cmd|' /C calc'!A0" and hostile["note"] == "no PI; pending review: missing_pi_email"
    written = payload["csv"]
    target = settings.output.journal_dir / f"unbilled_{MONTH}.csv"
    assert (written["status"], written["file"]) == ("written", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8"), newline="")))
    assert [r["resource"] for r in rows if r["reason"] == "ownerless"] == ["'=cmd|' /C calc'!A0"]  # text, never run
    again = _invoke(workdir, "unbilled", "-p", MONTH, "--csv")
    assert again.exit_code == 0 and f"CSV unchanged (identical to the latest): {written['file']}" in again.stdout
    assert [p.name for p in settings.output.journal_dir.iterdir()] == [f"unbilled_{MONTH}.csv"]


def test_unbilled_of_an_unknown_month_is_one_line(workdir, settings):
    result = _invoke(workdir, "unbilled", "-p", "2031-01", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["ok"] is False
    assert result.stderr.splitlines() == [
        "Error: billing month 2031-01 does not exist: import its data first (`ocb ingest`)"]
