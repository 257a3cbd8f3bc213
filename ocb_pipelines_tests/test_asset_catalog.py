"""The asset catalog as a dashboard: every asset described, grouped, owned and typed, and the money of each
month as integer cents under the same keys on every asset, so Dagster plots them over months (never a float)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import dagster as dg

from ocb_pipelines.core.config import load_config
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.periods.month_end import decide_month_end
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

REPO = Path(__file__).resolve().parents[1]
GROUPS = {"focus_raw": "ingest", "charges_priced": "ingest", "charges_validated": "ingest",
          "review_decisions": "review", "charges_approved": "review", "pi_history": "statements",
          "statements": "statements",
          "statement_deliveries": "delivery", "gl_journal": "ledger", "unbilled_report": "ledger"}
MONEY_KEYS = ("billed_total", "list_total", "discount_total")


def test_every_asset_is_described_grouped_owned_and_typed():
    specs = {spec.key.to_user_string(): spec for asset in build_definitions().assets or [] for spec in asset.specs}
    assert set(specs) == set(GROUPS)
    for name, spec in specs.items():
        assert len(spec.description or "") > 80, name
        assert spec.group_name == GROUPS[name], name
        assert spec.owners == ["team:research-computing"], name
        assert spec.kinds, name


def _month_metadata(tmp_path: Path, monkeypatch) -> dict[str, dict[str, dg.MetadataValue]]:
    """Import a month (one charge flagged, then approved), close it, render its statements; return metadata."""
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    monkeypatch.setenv("OCB_ACTOR", "admin.one")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    settings = load_config(tmp_path / "config.yaml")
    write_focus_csv(settings.inbox_dir / "aws_2025-01.csv", [
        charge_row(resource="vm-a", billed="80.00", ListCost="100.00"),
        charge_row(resource="bucket", billed="20.10", ListCost=""),  # no list price: list = billed
        charge_row(resource="mkt", billed="3.33", ListCost="4.00", service="AWS Marketplace"),  # flag_patterns hit
    ])
    defs = build_definitions(settings.config_path)
    metadata: dict[str, dict[str, dg.MetadataValue]] = {}
    with dg.DagsterInstance.get() as instance:

        def run(job: str) -> None:
            result = defs.resolve_job_def(job).execute_in_process(partition_key="2025-01", instance=instance,
                                                                  tags=WAREHOUSE_RUN_TAGS)
            assert result.success
            for event in result.get_asset_materialization_events():
                metadata[event.asset_key.to_user_string()] = dict(event.materialization.metadata)
            return result

        imported = run("month_end_import_job")
        flagged_validated = dict(metadata["charges_validated"])
        with wh.connect(settings.warehouse_path) as con:
            [state] = rd.charge_states(con, "2025-01")
            rd.record_decisions(con, "2025-01", [rd.Decision(state["charge_id"], "approve", "marketplace ok")],
                                actor="admin.one", via="cli")
            assert decide_month_end(con, "2025-01", imported.run_id).produce
        run("month_end_outputs_job")
    metadata["charges_validated"] = flagged_validated
    return metadata


def test_money_metadata_is_integer_cents_under_the_same_keys_on_every_asset(tmp_path, monkeypatch):
    metadata = _month_metadata(tmp_path, monkeypatch)
    billed, listed = Decimal("103.43"), Decimal("124.10")  # 80 + 20.10 + 3.33; 100 + 20.10 (list = billed) + 4
    for asset in ("focus_raw", "charges_validated", "charges_approved", "statements"):
        values = metadata[asset]
        for key in MONEY_KEYS:
            assert isinstance(values[f"{key}_cents"], dg.IntMetadataValue), (asset, key)
            assert isinstance(values[key], dg.TextMetadataValue), (asset, key)  # exact text beside the cents
        assert values["billed_total_cents"].value == int(billed * 100), asset
        assert values["list_total_cents"].value == int(listed * 100), asset
        assert values["discount_total_cents"].value == int((listed - billed) * 100) == 2067, asset
        assert values["billed_total"].value == "$103.43 USD", asset
        money_floats = [k for k, v in values.items() if isinstance(v, dg.FloatMetadataValue) and k != "seconds"]
        assert money_floats == [], asset
    validated = metadata["charges_validated"]
    assert validated["flagged_rows"].value == 1 and validated["flagged_billed_cents"].value == 333
    approved = metadata["charges_approved"]
    assert isinstance(approved["pending_billed_cents"], dg.IntMetadataValue)
    assert approved["pending_billed_cents"].value == 0 and approved["rejected_billed_cents"].value == 0
    # The reconciliation the month closed on (issue 18): imported = approved + pending + rejected, to the cent.
    assert approved["reconciled"].value is True and approved["imported_billed_cents"].value == 10343
    assert approved["reconciliation"].value.startswith("imported $103.43 (3 rows) = approved $103.43 + pending")
