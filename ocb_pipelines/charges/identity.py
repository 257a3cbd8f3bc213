"""A charge line's `charge_id`, built from its identity (no Dagster).

The identity and `row_hash` formulas are pinned in ocb_pipelines/warehouse/identity.py (the warehouse's
charges_validated view computes row_hash); this module adds how the id is derived from the identity hash
and the line's occurrence among identical lines. Changing either would orphan stored review decisions.
"""

from __future__ import annotations

from ocb_pipelines.warehouse.identity import SEPARATOR
from ocb_pipelines.warehouse.identity import identity_hash_sql as identity_hash_sql
from ocb_pipelines.warehouse.identity import identity_values_sql as identity_values_sql
from ocb_pipelines.warehouse.identity import row_hash_sql as row_hash_sql


def charge_id_sql(identity_hash: str, occurrence: str) -> str:
    return f"substr(md5({identity_hash} || {SEPARATOR} || CAST({occurrence} AS VARCHAR)), 1, 20)"
