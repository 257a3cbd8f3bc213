"""charges_priced in the Dagster graph: imports price their month, a changed rates file lists the months it
affects, the sensor and `ocb pricing months --reprice` re-price the open ones, and a closed month is never
re-priced silently (its run fails saying what changed and what to do)."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.defs.pricing.sensors import pricing_inputs_sensor
from ocb_pipelines.defs.resources import build_resources
from ocb_pipelines.warehouse import database as wh

SACCT = """JobID|Account|Partition|Start|End|ElapsedRaw|AllocTRES|State
1|lab|standard|2026-02-10T00:00:00|2026-02-10T10:00:00|36000|billing=10,cpu=10,node=1|COMPLETED
2|lab|standard|2026-03-10T00:00:00|2026-03-10T10:00:00|36000|billing=10,cpu=10,node=1|COMPLETED
"""
RATES = ("source,service_name,unit,list_unit_price,billed_unit_price,valid_from\n"
         "hpc,*,billing-hour,0.05,{billed},2026-01-01\n")


def _project(workdir) -> dict:
    config = workdir / "config.yaml"
    (workdir / "rates.csv").write_text(RATES.format(billed="0.04"))
    (workdir / "accounts.csv").write_text("account,pi_email,project_id,fund_org\n"
                                          "lab,ada@example.edu,lab-x,CHEM-100200\n")
    with config.open("a") as handle:
        handle.write("\npricing:\n  rates_file: rates.csv\n  accounts_file: accounts.csv\n")
    (workdir / "data" / "inbox" / "hpc_2026.sacct").write_text(SACCT)
    (workdir / "dagster_home").mkdir()
    return {"DAGSTER_HOME": str(workdir / "dagster_home"), "OCB_ACTOR": "finance.one"}


def _ocb(workdir, env, *args):
    result = CliRunner(env=env).invoke(cli, [*args, "-c", str(workdir / "config.yaml"), "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else result.output


def _billed(workdir, month: str) -> Decimal:
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        return con.execute("SELECT sum(billed_cost) FROM charges_validated WHERE billing_month = ?",
                           [month]).fetchall()[0][0]


def test_a_rate_change_reprices_open_months_and_never_a_closed_one(workdir):
    env = _project(workdir)
    code, imported = _ocb(workdir, env, "ingest", str(workdir / "data" / "inbox" / "hpc_2026.sacct"))
    assert code == 0, imported
    assert (_billed(workdir, "2026-02"), _billed(workdir, "2026-03")) == (Decimal("4.00"), Decimal("4.00"))
    assert _ocb(workdir, env, "periods", "close", "2026-02")[0] == 0
    assert _ocb(workdir, env, "pricing", "months")[1]["affected"] == []

    (workdir / "rates.csv").write_text(RATES.format(billed="0.03"))  # finance lowers the billed price
    affected = _ocb(workdir, env, "pricing", "months")[1]["affected"]
    assert [(m["month"], m["status"]) for m in affected] == [("2026-02", "closed"), ("2026-03", "open")]
    assert all("rates" in m["reason"] for m in affected)

    with dg.build_sensor_context(cursor=None, resources=build_resources(workdir / "config.yaml")) as context:
        tick = pricing_inputs_sensor(context)
    assert [r.partition_key for r in tick.run_requests] == ["2026-03"]  # the closed month gets no run

    code, report = _ocb(workdir, env, "pricing", "months", "--reprice")
    assert code == 0 and [(r["month"], r["success"]) for r in report["runs"]] == [("2026-03", True)]
    assert (_billed(workdir, "2026-02"), _billed(workdir, "2026-03")) == (Decimal("4.00"), Decimal("3.00"))
    assert [m["month"] for m in _ocb(workdir, env, "pricing", "months")[1]["affected"]] == ["2026-02"]

    # Re-running the closed month's pricing fails and says what changed and what to do; nothing changes.
    from ocb_pipelines.definitions import build_definitions

    defs = build_definitions(workdir / "config.yaml")
    with dg.instance_for_test(temp_dir=env["DAGSTER_HOME"]) as instance:
        result = defs.resolve_job_def("pricing_job").execute_in_process(
            partition_key="2026-02", instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "2026-02 is closed" in message and "rates" in message and "reopen" in message.lower()
    assert _billed(workdir, "2026-02") == Decimal("4.00")
