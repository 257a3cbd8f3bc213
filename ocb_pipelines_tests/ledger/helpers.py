"""Settings and charge groups for the pure journal tests (no warehouse)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ledger.journal import ChargeGroup

SOURCES = [
    {"name": "aws", "fund_org": "RCIT-900001", "account_code": "54100"},
    {"name": "hpc", "fund_org": "RCIT-900010", "account_code": "54200"},
    {"name": "storage", "fund_org": "RCIT-900020", "account_code": ""},
]


def make_settings(sources: list[dict[str, Any]] | None = None, **journal: Any) -> OcbSettings:
    base = {
        "fund_org_regex": r"^(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)$",
        "account_code_regex": r"^[0-9]{5}$",
        "default_account": "54000",
        "debit_description": "{source} {period} {project_id}",
        "credit_description": "{source} {period} recovery",
    }
    base.update(journal)
    return OcbSettings.model_validate({
        "config_path": Path("/nonexistent/config.yaml"),
        "imports": {"known_sources": SOURCES if sources is None else sources},
        "journal": base,
    })  # fmt: skip


def group(billed: str, source: str = "aws", fund_org: str | None = "ABC-123456", account: str | None = None,
          reference: str | None = None, pi: str | None = "pi.one@example.edu", project: str | None = "proj-a",
          charges: int = 1) -> ChargeGroup:
    return ChargeGroup(source, fund_org, account, reference, pi, project, Decimal(billed), charges)
