"""A charge line's `charge_id`, built from its identity (no Dagster).

The identity, `charge_id` and `row_hash` formulas are pinned in ocb_pipelines/warehouse/identity.py (the
warehouse's charges_validated view computes row_hash, and late data for a closed month (ingest/late.py) needs the
charge_id its rows have there); the charges domain takes them from here. Changing any would orphan stored review
decisions.
"""

from __future__ import annotations

from ocb_pipelines.warehouse.identity import charge_id_sql as charge_id_sql
from ocb_pipelines.warehouse.identity import identity_hash_sql as identity_hash_sql
from ocb_pipelines.warehouse.identity import identity_values_sql as identity_values_sql
from ocb_pipelines.warehouse.identity import row_hash_sql as row_hash_sql

