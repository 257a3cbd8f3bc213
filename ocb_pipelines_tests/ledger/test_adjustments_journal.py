"""The GL journal books adjustments to closed months (late data) on lines of their own naming the origin month,
and across months original + adjustments = what the provider billed last (issue 20)."""

from __future__ import annotations

import csv
from decimal import Decimal

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.ledger.export import export_journal
from ocb_pipelines.review.decisions import Decision, record_decisions
from ocb_pipelines.review.fixtures import write_focus_csv
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, approve_and_close, load_source, tagged

NEXT = "2025-02"


def test_adjustments_are_journaled_apart_with_their_origin_month_and_months_reconcile(settings, tmp_path):
    load_source(settings, [tagged(billed="10.00", resource="a"), tagged(billed="4.00", resource="b")], "aws")
    approve_and_close(settings)
    load_source(settings, [tagged(NEXT, billed="2.00", resource="c")], "aws", NEXT)  # February's own charge
    corrected = [tagged(billed="12.50", resource="a"), tagged(billed="3.00", resource="b")]
    path = write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", corrected)  # the provider restates January
    with wh.connect(settings.warehouse_path) as con:
        (late,) = import_file(con, path, months=[MONTH], source="aws")
        assert late.status == "late" and late.booked_month == NEXT
        build_validated(con, NEXT, rules_from(settings))
        flagged = [c for (c,) in con.execute("SELECT charge_id FROM charges_validated WHERE billing_month = ? "
                                             "AND needs_review", [NEXT]).fetchall()]
        assert len(flagged) == 2
        record_decisions(con, NEXT, [Decision(c, "approve", "restated by AWS") for c in flagged], actor="x",
                         via="cli")
    approve_and_close(settings, NEXT)
    with wh.connect(settings.warehouse_path) as con:
        result = export_journal(con, settings, NEXT, out_dir=tmp_path / "journal")
        billed = {m: t for m, t in con.execute("SELECT billing_month, sum(billed_cost) FROM charges_approved "
                                               "GROUP BY ALL").fetchall()}
    rows = list(csv.DictReader(result.file_path.read_text(encoding="utf-8").splitlines()))
    adjusting = [r for r in rows if r["Description"].startswith(f"ADJ {MONTH}")]
    own = [r for r in rows if not r["Description"].startswith("ADJ")]
    # +2.50 and -1.00 on one fund and source: one debit and one credit line of 1.50, apart from February's own.
    assert [(r["Debit"], r["Credit"]) for r in adjusting] == [("1.50", ""), ("", "1.50")]
    assert [(r["Debit"], r["Credit"]) for r in own] == [("2.00", ""), ("", "2.00")]
    debits = sum(Decimal(r["Debit"] or 0) for r in rows)
    assert debits == sum(Decimal(r["Credit"] or 0) for r in rows) == Decimal("3.50")
    # original January + its adjustment booked in February = what AWS billed last for January
    assert billed[MONTH] + Decimal("1.50") == Decimal("15.50")
