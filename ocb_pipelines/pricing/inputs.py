"""What a month is priced with: the rates, fees and accounts files, the subsidy rules, and how rows are labelled.

One digest (`pricing_inputs`) covers all of it, so a priced month records what it was priced with and an edit
to any file or rule shows which months it changes (engine.months_affected). The lines go into DuckDB as TEMP
tables so that pricing a million jobs is a few joins, never a Python loop per job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.pricing_config import SubsidyRule
from ocb_pipelines.pricing import files as pricing_files
from ocb_pipelines.pricing.bulk import insert_rows
from ocb_pipelines.pricing.files import AccountLine, FeeLine, RateLine
from ocb_pipelines.warehouse.database import MONEY

SUBSIDY_FILE_NAME = "pricing.subsidies"  # the file name the subsidy credit lines' imports are recorded under


class PricingRefused(ValueError):
    """A month was not priced, and nothing was written: a usage line without a rate, or a closed or finalized
    month whose pricing would change. The message says which and what to do."""


@dataclass(frozen=True)
class PricingInputs:
    """Everything a month's pricing reads besides the warehouse: checked lines and how rows are labelled."""

    rates: list[RateLine] = field(default_factory=list)
    fees: list[FeeLine] = field(default_factory=list)
    accounts: list[AccountLine] = field(default_factory=list)
    rules: list[SubsidyRule] = field(default_factory=list)
    rates_file: str = ""  # the file names rows and errors name ("" when not configured)
    fees_file: str = ""
    fees_path: str = ""
    fees_sha256: str = ""
    currency: str = "USD"
    tag_keys: dict[str, str] = field(default_factory=dict)  # pi_email / project_id / fund_org -> the tag key
    providers: dict[str, str] = field(default_factory=dict)  # lower-case source -> display name

    def provider(self, source: str) -> str:
        return self.providers.get(source.lower(), source)

    @property
    def rules_sha256(self) -> str:
        return hashlib.sha256(canonical_json(rules_json(self.rules)).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def rules_json(rules: list[SubsidyRule]) -> list[dict]:
    return [rule.model_dump(mode="json") for rule in rules]


def _file_entry(path: Path | None) -> dict | None:
    return None if path is None else {"file": path.name, "sha256": pricing_files.file_sha256(path)}


def pricing_inputs(settings: OcbSettings) -> tuple[str, dict]:
    """sha256 over the rates, fees and accounts files' sha256, the subsidy rules (canonical JSON), the currency
    and the tag keys priced rows are written with; and the dict it was computed from (what went in)."""
    pricing = settings.pricing
    inputs = {
        "rates": _file_entry(pricing.rates_file),
        "fees": _file_entry(pricing.fees_file),
        "accounts": _file_entry(pricing.accounts_file),
        "subsidies": rules_json(pricing.subsidies),
        "currency": settings.currency.code,
        "tag_mapping": _tag_keys(settings),
    }
    return hashlib.sha256(canonical_json(inputs).encode()).hexdigest(), inputs


def _tag_keys(settings: OcbSettings) -> dict[str, str]:
    mapping = settings.tag_mapping
    return {"pi_email": mapping.pi_email, "project_id": mapping.project_id, "fund_org": mapping.fund_org}


def load_inputs(settings: OcbSettings) -> PricingInputs:
    """Read and check the configured files (PricingFileError names the file, line, column and value)."""
    pricing = settings.pricing
    fees_path = pricing.fees_file
    return PricingInputs(
        rates=pricing_files.read_rates(pricing.rates_file) if pricing.rates_file else [],
        fees=pricing_files.read_fees(fees_path) if fees_path else [],
        accounts=pricing_files.read_accounts(pricing.accounts_file) if pricing.accounts_file else [],
        rules=list(pricing.subsidies),
        rates_file=pricing.rates_file.name if pricing.rates_file else "",
        fees_file=fees_path.name if fees_path else "",
        fees_path=str(fees_path or ""),
        fees_sha256=pricing_files.file_sha256(fees_path) if fees_path else "",
        currency=settings.currency.code,
        tag_keys=_tag_keys(settings),
        providers={s.name.lower(): (s.display_name.strip() or s.name) for s in settings.imports.known_sources},
    )


def load_rate_table(con: duckdb.DuckDBPyConnection, rates: list[RateLine]) -> None:
    """TEMP pricing_rates: one row per rate line; keys lower-cased (rates compete ignoring case, as the reader
    checks them), valid_to open as 9999-12-31."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE pricing_rates (
        line INTEGER, source_key VARCHAR, service_key VARCHAR, unit_key VARCHAR, group_key VARCHAR,
        list_unit_price {MONEY}, billed_unit_price {MONEY}, valid_from DATE, valid_to DATE,
        tier_from {MONEY}, tier_to {MONEY})""")
    if rates:
        insert_rows(
            con, "pricing_rates",
            [[r.line, r.source, r.service_name, r.unit, r.group, r.list_unit_price, r.billed_unit_price,
              r.valid_from, r.valid_to, r.tier_from, r.tier_to] for r in rates],
            "c1, lower(c2), lower(c3), lower(c4), lower(c5), c6, c7, c8, "
            "coalesce(CAST(c9 AS DATE), DATE '9999-12-31'), c10, c11",
        )


def load_account_table(con: duckdb.DuckDBPyConnection, accounts: list[AccountLine]) -> None:
    """TEMP pricing_accounts: account -> PI, project, fund, group; matched ignoring case (as the reader refuses a
    repeated account)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE pricing_accounts (
        line INTEGER, account VARCHAR, account_key VARCHAR, project_key VARCHAR, pi_email VARCHAR,
        project_id VARCHAR, fund_org VARCHAR, group_key VARCHAR)""")
    if accounts:
        insert_rows(
            con, "pricing_accounts",
            [[a.line, a.account, a.account, a.project_id, a.pi_email, a.project_id, a.fund_org, a.group]
             for a in accounts],
            "c1, c2, lower(c3), lower(c4), c5, c6, c7, lower(c8)",
        )
