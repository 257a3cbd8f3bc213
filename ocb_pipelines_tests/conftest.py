"""Shared fixtures: a config and warehouse in a temp dir, and a precise FOCUS file builder."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.ingest.focus import FOCUS_1_0, FOCUS_1_1_ADDED, FOCUS_1_2_ADDED, FOCUS_1_3_ADDED

REPO = Path(__file__).resolve().parents[1]

VERSION_COLUMNS = {
    "1.0": list(FOCUS_1_0),
    "1.1": list(FOCUS_1_0 + FOCUS_1_1_ADDED),
    "1.2": list(FOCUS_1_0 + FOCUS_1_1_ADDED + FOCUS_1_2_ADDED),
    "1.3": list(FOCUS_1_0 + FOCUS_1_1_ADDED + FOCUS_1_2_ADDED + FOCUS_1_3_ADDED),
}

GOOD_TAGS = {"pi_email": "ada.lovelace@example.edu", "project_id": "astro-survey", "fund_org": "ASTR-100234",
             "grant_number": "NSF-2412345", "cost_center": "CC-4410"}


def focus_row(month: str = "2025-01", billed: str = "10.50", tags: dict | str | None = None, **overrides) -> dict:
    """One valid FOCUS row; override any column by keyword."""
    year, mon = (int(x) for x in month.split("-"))
    nxt = f"{year + (mon == 12)}-{(mon % 12) + 1:02d}"
    row = {
        "BilledCost": billed, "EffectiveCost": billed, "ListCost": "12.00", "ContractedCost": "11.00",
        "BillingAccountId": "111122223333", "BillingAccountName": "Example University", "BillingCurrency": "USD",
        "BillingPeriodStart": f"{month}-01T00:00:00Z", "BillingPeriodEnd": f"{nxt}-01T00:00:00Z",
        "ChargePeriodStart": f"{month}-03T00:00:00Z", "ChargePeriodEnd": f"{month}-03T01:00:00Z",
        "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "ChargeDescription": "compute",
        "ServiceName": "Amazon EC2", "ServiceCategory": "Compute", "ProviderName": "AWS", "PublisherName": "AWS",
        "InvoiceIssuerName": "AWS", "ResourceId": "i-0abc", "ResourceName": "sim-node", "PricingCategory": "Standard",
        "ServiceProviderName": "AWS", "HostProviderName": "AWS",
        "Tags": json.dumps(GOOD_TAGS if tags is None else tags) if not isinstance(tags, str) else tags,
    }
    row.update(overrides)
    return row


def write_focus(path: Path, rows: list[dict], version: str = "1.2", fmt: str | None = None,
                extra: list[str] | None = None, header_case: Callable[[str], str] = str, bom: bool = False) -> Path:
    """Write rows as a FOCUS file of the version's columns (missing values empty), CSV/CSV.gz/Parquet."""
    columns = VERSION_COLUMNS[version] + list(extra or [])
    fmt = fmt or ("parquet" if path.suffix == ".parquet" else "csv.gz" if path.name.endswith(".gz") else "csv")
    if fmt == "parquet":
        import duckdb
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = {}
        for column in columns:
            values = [r.get(column) for r in rows]
            if column == "Tags":
                values = [list(json.loads(v).items()) if v else None for v in values]
                table[column] = pa.array(values, type=pa.map_(pa.string(), pa.string()))
            else:
                table[column] = pa.array([None if v in ("", None) else str(v) for v in values], type=pa.string())
        pq.write_table(pa.table(table), path)
        del duckdb
        return path
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([header_case(c) for c in columns])
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    data = ("\ufeff" if bom else "") + buffer.getvalue()
    if fmt == "csv.gz":
        path.write_bytes(gzip.compress(data.encode("utf-8")))
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def signals_as_from_a_terminal():
    """A test process started in the background (a CI runner, `&`) has SIGINT ignored. Dagster points SIGTERM at
    SIGINT's handler in every in-process run on the main thread, so a test that calls execute_in_process directly
    (not through services.dagster_runs.run_job, which puts both back) would leave SIGTERM ignored for the rest of
    the process: Dagster's own compute-log `tail` children then outlive their runs (30 s each) and are collected
    still running inside later tests. Run the tests with the signals a terminal gives."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A project folder: config.yaml (the example's), data/ under it, and an empty warehouse (created through the
    package, as `ocb ingest --init` would: the CLI refuses a database.path with no warehouse behind it)."""
    from ocb_pipelines.warehouse import database as wh

    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    (tmp_path / "data" / "inbox").mkdir(parents=True)
    with wh.connect(tmp_path / "data" / "warehouse.duckdb"):
        pass
    return tmp_path


@pytest.fixture
def settings(workdir: Path) -> OcbSettings:
    return load_config(workdir / "config.yaml")


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory) -> Path:
    """A project with an open month to review and three desk users, built once per test process
    (ocb_pipelines_tests/web/conftest.py says what it holds); tests copy it."""
    from ocb_pipelines_tests.web.conftest import build_desk_template

    return build_desk_template(tmp_path_factory)
