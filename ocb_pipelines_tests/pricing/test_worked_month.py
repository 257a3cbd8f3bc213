"""docs/pricing.md's worked month, run as written: a sacct file, a storage report, a fees file and an AWS export go
through `ocb` to statements and a balanced journal, and every figure the page states is what the month produced.

This is issue 19's end-to-end test: the files, the configuration and the commands are the page's own, so the
docs cannot drift from what the product does."""

from __future__ import annotations

import csv
import json
import re
import shlex
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.periods.reconcile import reconcile
from ocb_pipelines.warehouse import database as wh

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "pricing.md").read_text(encoding="utf-8")
MONTH = "2026-03"
BLOCK = re.compile(r"<!-- worked: (\S+) -->\n```\w*\n(.*?)^```", re.S | re.M)
TABLE = re.compile(r"<!-- worked: (\S+) -->\n((?:\|.*\n)+)")
HPC = '    - {name: hpc, pattern: hpc, display_name: "HPC Cluster", fund_org: "RCIT-900010", account_code: "54200"}'
SOURCES = {  # what the page says the known sources get
    HPC:
        "    - {name: hpc, pattern: hpc, display_name: \"HPC Cluster\", fund_org: \"RCIT-900010\", account_code: "
        "\"54200\", timezone: America/New_York}\n"
        "    - {name: fees, pattern: fees, display_name: \"Fixed fees\", fund_org: \"RCIT-900030\", account_code: "
        "\"54400\"}",
}


def _table(name: str) -> list[dict[str, str]]:
    """A markdown table the page marks `<!-- worked: name -->`, as rows of {header: cell}."""
    body = dict(TABLE.findall(PAGE))[name]
    lines = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in body.strip().splitlines()]
    return [dict(zip(lines[0], row, strict=True)) for row in lines[2:]]


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> dict:
    """The page's month end, run once: its files written, its commands run; what they left behind."""
    root = tmp_path_factory.mktemp("worked")
    config = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    for line, replacement in SOURCES.items():
        assert line in config
        config = config.replace(line, replacement)
    blocks = dict(BLOCK.findall(PAGE))
    (root / "config.yaml").write_text(config + "\n" + blocks.pop("config.yaml"), encoding="utf-8")
    for name, body in blocks.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body, encoding="utf-8")
    commands = next(body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", PAGE, re.S | re.M)
                    if body.startswith("ocb ingest --init"))
    outputs = {}
    env = {"DAGSTER_HOME": str(root / "dagster_home"), "OCB_ACTOR": "finance.one"}
    (root / "dagster_home").mkdir()
    for line in commands.strip().splitlines():
        args = [a if not a.startswith("data/") else str(root / a) for a in shlex.split(line)[1:]]
        result = CliRunner(env=env).invoke(cli, [*args, "-c", str(root / "config.yaml"), "--json"])
        assert result.exit_code == 0, f"{line}: {result.output}"
        outputs[" ".join(args[:2])] = json.loads(result.stdout)
    return {"root": root, "outputs": outputs}


def _connect(month: dict):
    return wh.connect(month["root"] / "data" / "warehouse.duckdb")


def test_each_charge_is_priced_as_the_page_says(month):
    where = {"job 101": ("hpc", "101"), "job 102": ("hpc", "102"), "job 103": ("hpc", "103"),
             "job 104": ("hpc", "104"), "storage, chem-lab": ("storage", "/projects/chem-lab"),
             "storage, phys-sim": ("storage", "phys-sim"), "fee, phys-sim": ("fees", "fee:phys-sim"),
             "fee, chem-lab": ("fees", "fee:chem-lab"), "AWS, phys-sim": ("aws", "i-0abc")}
    with _connect(month) as con:
        priced = {(s, r): (lc, bc) for s, r, lc, bc in con.execute(
            "SELECT source, resource_id, list_cost, billed_cost FROM charges_validated WHERE billing_month = ? "
            "AND charge_category <> 'Credit'", [MONTH]).fetchall()}
    rows = _table("charges")
    assert len(priced) == len(rows)  # job 105 (running) and the .batch step are no charges
    for row in rows:
        key = where[row["charge"].split(",")[0] if row["charge"].startswith("job") else row["charge"]]
        assert priced[key] == (_money(row["list"]), _money(row["billed"])), row["charge"]


def test_the_subsidy_rules_credit_what_the_page_says(month):
    with _connect(month) as con:
        credited = dict(con.execute(
            "SELECT rule_id, sum(amount) FROM subsidy_applications WHERE billing_month = ? AND project_id = "
            "'chem-lab' GROUP BY rule_id", [MONTH]).fetchall())
        (phys,) = con.execute("SELECT sum(amount) FROM subsidy_applications WHERE billing_month = ? AND "
                              "project_id = 'phys-sim'", [MONTH]).fetchall()[0]
        lines = con.execute("SELECT charge_description FROM charges_approved WHERE billing_month = ? AND "
                            "charge_category = 'Credit' AND project_id = 'chem-lab'", [MONTH]).fetchall()
    assert credited == {row["rule"]: _money(row["credit"]) for row in _table("rules")}
    assert phys == Decimal("4.00")
    assert {d.split(":")[0] for (d,) in lines} == set(credited)  # every credit line names its rule


def test_statements_show_list_subsidy_and_billed_and_the_split(month):
    with _connect(month) as con:
        statements = {(pi, p): (lt, dt, bt, pdf) for pi, p, lt, dt, bt, pdf in con.execute(
            "SELECT pi_email, project_id, list_total, discount_total, billed_total, pdf_path FROM statements "
            "WHERE billing_month = ?", [MONTH]).fetchall()}
        shares = dict(con.execute("SELECT fund_org, billed_total FROM statement_fund_shares WHERE billing_month = ? "
                                  "AND project_id = 'phys-sim'", [MONTH]).fetchall())
    expected = {(r["PI"], r["project"]): tuple(_money(r[k]) for k in ("list", "subsidy", "billed"))
                for r in _table("statements")}
    assert {k: v[:3] for k, v in statements.items()} == expected
    assert set(shares) == {"PHYS-300400", "PHYS-300401", "ENGR-500600"}
    assert sum(shares.values()) == expected[("grace@example.edu", "phys-sim")][2]
    ada = "".join(page.extract_text() for page in pypdf.PdfReader(statements[("ada@example.edu", "chem-lab")][3]).pages)
    for rule in ("hpc-free-100", "chemistry-25", "cap-500", "new-faculty-ada"):
        assert rule in ada
    grace = "".join(p.extract_text() for p in pypdf.PdfReader(statements[("grace@example.edu", "phys-sim")][3]).pages)
    for fund, amount in shares.items():
        assert fund in grace and f"${amount:,.2f}" in grace


def test_the_month_reconciles_and_the_journal_balances_debiting_each_fund_its_share(month):
    with _connect(month) as con:
        figures = reconcile(con, MONTH)
    amount = r"([\d,]+\.\d\d)"
    stated = re.search(rf"imported {amount} = approved {amount} \+ pending {amount} \+ rejected {amount}", PAGE)
    assert (figures.imported_billed, figures.approved_billed, figures.pending_billed, figures.rejected_billed) == tuple(
        _money(v) for v in stated.groups())
    journal = month["outputs"]["export-journal -p"]
    assert journal["debit_total"] == journal["credit_total"] == "578.00"
    with open(journal["file"], newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    credits = {line["Description"].split()[0]: _money(line["Credit"]) for line in lines if line["Credit"]}
    recovery = re.search(r"credits each source's fund\s+its recovery \(([^)]*)\)", PAGE).group(1)
    assert credits == {s: _money(a) for s, a in (part.split() for part in recovery.split(", "))}
    debits: dict[str, Decimal] = {}
    for line in lines:
        if line["Debit"] and "phys-sim" in line["Description"]:
            fund = f"{line['Orgn']}-{line['Fund']}"
            debits[fund] = debits.get(fund, Decimal(0)) + _money(line["Debit"])
    with _connect(month) as con:
        shares = dict(con.execute("SELECT fund_org, billed_total FROM statement_fund_shares WHERE billing_month = ? "
                                  "AND project_id = 'phys-sim'", [MONTH]).fetchall())
    assert debits == shares  # the statement tells each fund what the journal debits it
    stated_shares = re.search(r"as its\s+statement shows: ([^)]*)\)", PAGE).group(1)
    assert shares == {f: _money(a) for f, a in (part.split() for part in stated_shares.split(", "))}


def test_a_changed_split_lists_the_month_whose_statements_it_changes(month):
    """Runs last: it edits the page's splits file. Nothing is re-rendered on its own (the month is closed)."""
    root = month["root"]
    env = {"DAGSTER_HOME": str(root / "dagster_home")}

    def affected() -> list[tuple[str, str, str]]:
        result = CliRunner(env=env).invoke(cli, ["pricing", "months", "-c", str(root / "config.yaml"), "--json"])
        assert result.exit_code == 0, result.output
        return [(m["month"], m["status"], m["reason"]) for m in json.loads(result.stdout)["affected"]
                if m["month"] == MONTH]  # later months are listed too: phys-sim's monthly fee is due, not yet priced

    assert affected() == []
    splits = root / "pricing" / "splits.csv"
    splits.write_text(splits.read_text(encoding="utf-8").replace("33.33,2026-01-01\nphys-sim,ENGR-500600,33.34",
                                                                 "50.00,2026-01-01\nphys-sim,ENGR-500600,16.67"))
    [(when, status, why)] = affected()
    assert (when, status) == (MONTH, "closed") and "grace@example.edu/phys-sim" in why
