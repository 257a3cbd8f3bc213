"""Test helpers for the pricing engine: usage imports written with SQL as the usage import records them, the
pricing files as CSV, settings pointing at them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.pricing_config import PricingSettings, SubsidyRule
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema.ingest import IMPORTS_INSERT

RATES_HEADER = "source,service_name,unit,list_unit_price,billed_unit_price,valid_from,valid_to,tier_from,tier_to,group"
ACCOUNTS_HEADER = "account,pi_email,project_id,fund_org,group"
FEES_HEADER = "project_id,service_name,amount,frequency,valid_from,valid_to,source"

ACCOUNTS = [
    "astro,ada@example.edu,astro-survey,ASTR-100100,",
    "bio,bea@example.edu,bio-lab,BIOL-200200,external",
    "chem,carl@example.edu,chem-sim,CHEM-300300,",
]


def write_csv(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def priced_settings(settings: OcbSettings, folder: Path, *, rates: list[str], accounts: list[str] | None = None,
                    fees: list[str] | None = None, subsidies: list[dict] | None = None) -> OcbSettings:
    """The settings with pricing files written in `folder` (accounts default to ACCOUNTS)."""
    pricing = PricingSettings(
        rates_file=write_csv(folder / "rates.csv", RATES_HEADER, rates),
        accounts_file=write_csv(folder / "accounts.csv", ACCOUNTS_HEADER, ACCOUNTS if accounts is None else accounts),
        fees_file=write_csv(folder / "fees.csv", FEES_HEADER, fees) if fees is not None else None,
        subsidies=[SubsidyRule(**rule) for rule in subsidies or []],
    )
    return settings.model_copy(update={"pricing": pricing})


def usage_import(con: duckdb.DuckDBPyConnection, month: str, source: str = "hpc", file_name: str = "jobs.txt",
                 version: str = "slurm-sacct") -> int:
    """An imports row and an import_files row (billed 0 until priced), as the usage import writes them."""
    key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
    sha = uuid.uuid4().hex * 2
    now = wh.now_utc()
    con.execute(f"{IMPORTS_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, NULL)",
                [key, uuid.uuid4().hex, month, source, file_name, sha, version, now])
    con.execute("INSERT INTO import_files VALUES (?, ?, ?, ?, ?, 'csv', ?, NULL, 0, 0, 0, ?, 'test', NULL)",
                [source, file_name, month, sha, f"/inbox/{file_name}", version, now])
    with_period(con, month)
    return key


def with_period(con: duckdb.DuckDBPyConnection, month: str) -> None:
    wh.ensure_period_open(con, month, "test", action="test")


def add_job(con: duckdb.DuckDBPyConnection, key: int, month: str, line: int, *, account: str = "astro",
            partition: str = "cpu", start: str, end: str, hours: str, billing: str | None = None,
            cpus: str | None = None, gpus: str | None = None, mem_gb: str | None = None,
            job_id: str | None = None) -> None:
    """One Slurm job line (times UTC)."""
    con.execute(
        "INSERT INTO usage_rows (billing_month, import_key, file_row_number, usage_kind, account, user_name, job_id, "
        "job_name, partition, cluster, started_at, ended_at, elapsed_hours, billing_units, cpus, gpus, mem_gb) "
        "VALUES (?, ?, ?, 'slurm_job', ?, 'u1', ?, 'sim', ?, 'c1', ?, ?, ?, ?, ?, ?, ?)",
        [month, key, line, account, job_id or str(1000 + line), partition, start, end, Decimal(hours),
         _dec(billing), _dec(cpus), _dec(gpus), _dec(mem_gb)],
    )


def add_storage(con: duckdb.DuckDBPyConnection, key: int, month: str, line: int, path: str, day: str,
                terabytes: str) -> None:
    con.execute(
        "INSERT INTO usage_rows (billing_month, import_key, file_row_number, usage_kind, account, usage_date, "
        "terabytes) VALUES (?, ?, ?, 'storage_day', ?, ?, ?)",
        [month, key, line, path, day, Decimal(terabytes)],
    )


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def focus(con: duckdb.DuckDBPyConnection, month: str, columns: str = '*', where: str = "true") -> list[dict]:
    """The month's priced FOCUS rows (focus_raw), as dicts, in import and line order."""
    cursor = con.execute(f"SELECT {columns} FROM focus_raw WHERE billing_month = ? AND ({where}) "
                         "ORDER BY import_id IS NULL, source, file_name, file_row_number", [month])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
