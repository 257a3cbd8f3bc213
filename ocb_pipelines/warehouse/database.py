"""The warehouse's public API in one module: `from ocb_pipelines.warehouse import database as wh`.

It only re-exports; each part lives in the module named by what it holds:
- connection.py: `connect` (the one way to open the file), the lock wait, `configure`, CONNECTION_CONFIG;
- transaction.py: `transaction`;
- schema/: `ensure_schema` and one module per domain (DDL and that domain's upgrades), MONEY;
- period_guard.py: `ensure_period_open`, `period_status`, `PeriodLockedError`;
- audit.py: `record_audit`, `current_actor`, `now_utc`;
- identity.py: the pinned charge identity and row_hash SQL.
The Dagster resource is warehouse/resource.py (imported on its own: it brings dagster-duckdb).
"""

from __future__ import annotations

from ocb_pipelines.warehouse.audit import current_actor, now_utc, record_audit
from ocb_pipelines.warehouse.connection import (
    CONNECTION_CONFIG,
    LOCK_RETRY_SECONDS,
    LOCK_WAIT_ENV,
    WarehouseLockedError,
    configure,
    connect,
    lock_wait_seconds,
    open_connection,
)
from ocb_pipelines.warehouse.period_guard import PeriodLockedError, ensure_period_open, period_status
from ocb_pipelines.warehouse.schema import MONEY, ensure_schema, money_from_text
from ocb_pipelines.warehouse.schema.charges import (
    CHARGES_VALIDATED_VIEW_VERSION,
    DESCRIPTIVE_COLUMNS,
    RAW_ROW_HASH,
    RAW_ROW_JOIN,
)
from ocb_pipelines.warehouse.transaction import transaction

__all__ = [
    "CHARGES_VALIDATED_VIEW_VERSION",
    "CONNECTION_CONFIG",
    "DESCRIPTIVE_COLUMNS",
    "LOCK_RETRY_SECONDS",
    "LOCK_WAIT_ENV",
    "MONEY",
    "RAW_ROW_HASH",
    "RAW_ROW_JOIN",
    "PeriodLockedError",
    "WarehouseLockedError",
    "configure",
    "connect",
    "current_actor",
    "ensure_period_open",
    "ensure_schema",
    "lock_wait_seconds",
    "money_from_text",
    "now_utc",
    "open_connection",
    "period_status",
    "record_audit",
    "transaction",
]
