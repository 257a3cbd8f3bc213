"""Invariant over random months: imported billed = approved + pending + rejected, to the cent."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocb_pipelines.charges.attribution import AttributionRules
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.review import approve
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

RULES = AttributionRules(tag_keys={"pi_email": "pi_email", "project_id": "project_id", "fund_org": "fund_org"},
                         flag_patterns=("^test-",), fund_org_patterns=("^[A-Z]{3}-[0-9]{6}$",))

amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("100000"), places=6,
                      allow_nan=False, allow_infinity=False)
charge = st.fixed_dictionaries({
    "billed": amounts,
    "project": st.sampled_from(["proj-a", None]),
    "fund": st.sampled_from(["ABC-123456", "bad", None]),
    "service": st.sampled_from(["Compute", "test-box"]),
    "month": st.sampled_from(["2025-01", "2025-02"]),
    "decision": st.sampled_from([None, "approve", "reject", "correct"]),
})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(charge, min_size=1, max_size=12))
def test_billed_reconciles_for_every_month(charges):
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(":memory:") as con:
        wh.configure(con)
        wh.ensure_schema(con)
        rows = [charge_row(c["month"], resource=f"r{i}", billed=format(c["billed"], "f"), project_id=c["project"],
                           fund_org=c["fund"], service=c["service"]) for i, c in enumerate(charges)]
        path = write_focus_csv(Path(tmp) / "aws.csv", rows)
        months = sorted({c["month"] for c in charges})
        import_file(con, path, months=months, source="aws")
        for month in months:
            build_validated(con, month, RULES)
            ids = dict(con.execute("SELECT resource_id, charge_id FROM charges_validated WHERE billing_month = ?",
                                   [month]).fetchall())
            fix = {"project_id": "proj-z", "fund_org": "XYZ-000001"}
            def kind(c: dict) -> str:
                # an unattributed charge cannot be approved as is: the reviewer corrects it instead
                return "correct" if c["decision"] == "approve" and not (c["project"] and c["fund"]) else c["decision"]

            decided = [
                rd.Decision(ids[f"r{i}"], kind(c), "random", **(fix if kind(c) == "correct" else {}))
                for i, c in enumerate(charges) if c["month"] == month and c["decision"]
            ]
            if decided:
                rd.record_decisions(con, month, decided, actor="hypo", via="cli",
                                    fund_org_patterns=RULES.fund_org_patterns)
            summary = approve.build_approved(con, month)
            validated, approved = con.execute(
                "SELECT (SELECT coalesce(sum(billed_cost), 0) FROM charges_validated WHERE billing_month = $m), "
                "(SELECT coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = $m)",
                {"m": month},
            ).fetchall()[0]
            expected = sum((c["billed"] for c in charges if c["month"] == month), Decimal(0))
            assert validated == expected
            assert validated == approved + summary.billed("pending") + summary.billed("rejected")
            rejected = sum((c["billed"] for c in charges if c["month"] == month and c["decision"] == "reject"),
                           Decimal(0))
            assert summary.billed("rejected") == rejected
