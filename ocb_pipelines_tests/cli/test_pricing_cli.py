"""`ocb pricing check`: each configured pricing file read as pricing will read it, the refusal worded as the reader
words it, exit 1 on any refusal (no warehouse or Dagster needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines_tests.cli.test_cli_contract import _no_floats

CONFIG = """pricing:
  rates_file: prices/rates.csv
  fees_file: prices/fees.csv
  accounts_file: prices/accounts.csv
funding:
  splits_file: prices/splits.csv
"""
FILES = {
    "rates.csv": "source,service_name,unit,list_unit_price,billed_unit_price,valid_from\n"
                 "hpc,*,billing-hour,0.0125,0.0100,2026-01-01\n",
    "fees.csv": "project_id,service_name,amount,frequency,valid_from\nastro-survey,co-location,250.00,monthly,"
                "2026-01-01\nastro-survey,setup,75.00,once,2026-01-01\n",
    "accounts.csv": "account,pi_email,project_id,fund_org\nastro,ada.lovelace@example.edu,astro-survey,ASTR-100234\n",
    "splits.csv": "project_id,fund_org,percent,valid_from\nastro-survey,ASTR-100234,60,2026-01-01\n"
                  "astro-survey,PHYS-200100,40,2026-01-01\n",
}


def _project(tmp_path: Path, config: str = CONFIG, **changed: str) -> Path:
    """A config naming the pricing files relative to itself, and the files (a warehouse is not needed)."""
    (tmp_path / "prices").mkdir()
    for name, text in {**FILES, **changed}.items():
        (tmp_path / "prices" / name).write_text(text)
    (tmp_path / "config.yaml").write_text(config)
    return tmp_path / "config.yaml"


def _ocb(config: Path, *args: str):
    return CliRunner().invoke(cli, ["pricing", "check", "-c", str(config), *args])


def test_good_files_are_listed_with_lines_and_sha256(tmp_path, monkeypatch):
    config = _project(tmp_path)
    monkeypatch.chdir(tmp_path / "prices")  # paths are relative to the config file, not to where ocb runs
    result = _ocb(config)
    assert result.exit_code == 0, result.output
    digest = {name: hashlib.sha256((tmp_path / "prices" / name).read_bytes()).hexdigest() for name in FILES}
    prices = tmp_path / "prices"
    assert result.stdout.splitlines() == [
        f"rates     {prices / 'rates.csv'}  1 line, sha256 {digest['rates.csv'][:12]}",
        f"fees      {prices / 'fees.csv'}  2 lines, sha256 {digest['fees.csv'][:12]}",
        f"accounts  {prices / 'accounts.csv'}  1 line, sha256 {digest['accounts.csv'][:12]}",
        f"splits    {prices / 'splits.csv'}  2 lines, sha256 {digest['splits.csv'][:12]}",
    ]
    assert result.stderr == ""
    payload = json.loads(_ocb(config, "--json").stdout)
    _no_floats(payload)
    assert payload["ok"] is True and payload["config"] == str(config)
    assert payload["files"] == [
        {"kind": kind, "setting": f"{'funding' if kind == 'splits' else 'pricing'}.{kind}_file",
         "path": str(prices / f"{kind}.csv"), "ok": True, "lines": lines, "sha256": digest[f"{kind}.csv"],
         "error": None}
        for kind, lines in (("rates", 1), ("fees", 2), ("accounts", 1), ("splits", 2))]


def test_a_refused_file_exits_1_with_the_readers_words(tmp_path):
    refusal = ("accounts.csv line 3, column account: 'ASTRO' repeats line 2 ('astro'): one line per account "
               "(compared ignoring case)")
    config = _project(tmp_path, **{"accounts.csv": FILES["accounts.csv"] + "ASTRO,x@example.edu,p,F-1\n"})
    result = _ocb(config)
    assert result.exit_code == 1
    assert f"accounts  {tmp_path / 'prices' / 'accounts.csv'}  REFUSED: {refusal}" in result.stdout.splitlines()
    assert "rates     " in result.stdout and "splits    " in result.stdout  # the others are still checked
    assert result.stderr.splitlines() == [f"Error: a pricing file was refused: {refusal}"]

    as_json = _ocb(config, "--json")
    assert as_json.exit_code == 1 and as_json.stderr.splitlines() == [f"Error: a pricing file was refused: {refusal}"]
    payload = json.loads(as_json.stdout)  # one JSON object: the files, not a second error object
    assert payload["ok"] is False
    accounts = next(f for f in payload["files"] if f["kind"] == "accounts")
    assert accounts["ok"] is False and accounts["error"] == refusal and accounts["lines"] is None
    assert accounts["sha256"] == hashlib.sha256((tmp_path / "prices" / "accounts.csv").read_bytes()).hexdigest()


def test_several_refusals_are_each_named(tmp_path):
    config = _project(tmp_path, **{
        "rates.csv": FILES["rates.csv"].replace("0.0100", "0.0200"),
        "splits.csv": FILES["splits.csv"].replace(",40,", ",30,"),
    })
    (tmp_path / "prices" / "fees.csv").unlink()
    result = _ocb(config)
    assert result.exit_code == 1
    stderr = result.stderr.splitlines()
    assert stderr[0] == "Error: 3 pricing files were refused"
    assert stderr[1] == ("  - rates.csv line 2, column billed_unit_price: '0.0200' is more than list_unit_price "
                         "0.0125: the subsidy (list - billed) is never negative")
    assert stderr[2] == f"  - fees.csv: file not found ({tmp_path / 'prices' / 'fees.csv'})"
    assert "splits.csv" in stderr[3] and "astro-survey" in stderr[3]  # read_splits names the project and the sum
    assert len(stderr) == 4


def test_no_pricing_files_configured_is_fine(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("dev_mode: true\n")
    result = _ocb(config)
    assert result.exit_code == 0 and result.stdout.startswith("no pricing files configured")
    payload = json.loads(_ocb(config, "--json").stdout)
    assert payload["ok"] is True and payload["files"] == [] and payload["note"].startswith("no pricing files")
