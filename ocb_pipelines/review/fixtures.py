"""Small FICTIONAL FOCUS 1.0 files for tests and walkthroughs of the review workflow (no Dagster).

`charge_row(...)` gives one valid row (attributed, so unflagged unless told otherwise) and
`write_focus_csv(path, rows)` writes rows with the csv module. All names are fictional.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ocb_pipelines.ingest.focus import FOCUS_1_0

_MISSING = object()


def charge_row(
    month: str = "2025-01",
    *,
    billed: str = "10.00",
    resource: str = "vm-1",
    service: str = "Compute Engine",
    pi_email: Any = "pi.one@example.edu",
    project_id: Any = "proj-a",
    fund_org: Any = "ABC-123456",
    **columns: str,
) -> dict[str, str]:
    """One FOCUS row of `month`. A tag set to None is left out (which routes the row to review)."""
    year, mon = (int(p) for p in month.split("-"))
    nxt = f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}"
    tags = {k: v for k, v in (("pi_email", pi_email), ("project_id", project_id), ("fund_org", fund_org))
            if v is not None}
    row = {
        "BilledCost": billed, "EffectiveCost": billed, "ListCost": billed, "BillingAccountId": "acct-1",
        "BillingCurrency": "USD", "BillingPeriodStart": f"{month}-01T00:00:00Z",
        "BillingPeriodEnd": f"{nxt}-01T00:00:00Z", "ChargePeriodStart": f"{month}-01T00:00:00Z",
        "ChargePeriodEnd": f"{month}-02T00:00:00Z", "ChargeCategory": "Usage", "ServiceName": service,
        "ProviderName": "ExampleCloud", "ResourceId": resource, "Tags": json.dumps(tags),
    }  # fmt: skip
    row.update(columns)
    return row


def write_focus_csv(path: str | Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write FOCUS 1.0 columns (empty where a row has no value)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FOCUS_1_0))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in FOCUS_1_0})
    return path
