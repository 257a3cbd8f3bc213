"""Three months of a fictional team's OpenChargeback history, written through its repository's operations in the
order its CLI and web UI perform them (see openchargeback_db.py), and the figures the import must reproduce.

  2025-01  finalized: three sources, float amounts (0.1 + 0.2, 100/3), a charge approved on the web with a note,
           one approved by the CLI's approve-all (no user recorded), one rejected, a PI address in mixed case,
           an HPC charge with no charge period; statements per PI x project, three emails (sent, failed,
           dev_mode), one journal export
  2025-02  closed, reopened with a reason and closed again; one charge still flagged (pending)
  2025-03  open (current): not history
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ocb_pipelines_tests.history.openchargeback_db import OcbRepository

ADA, GRACE, ALAN = "ada@example.edu", "grace@example.edu", "Alan@Example.edu"
REVIEWER, ADMIN = "Katherine Johnson", "Dorothy Vaughan"
START = datetime(2025, 2, 1, 9, 0)
SUBJECT = "Research Computing Charges - {period}"
# Billed amounts exactly as the people and exporters wrote them; OpenChargeback kept them as floats.
BILLED_2025_01 = {"i-0001": "1062.5", "i-0002": "0.1", "i-0003": "0.2", "i-0004": "40", "test-vm": "12.34",
                  "job-77": "0", "job-78": "33.333333333333", "vm-ml": "250.75", "vm-scratch": "5.25"}
REJECTED_2025_01 = Decimal("12.34")
BILLED_2025_02 = {"i-0101": "20", "i-0102": "7.5"}
PENDING_2025_02 = Decimal("7.5")


def tags(pi: str, project: str | None, fund: str | None, **extra: str) -> dict[str, str]:
    out = {"pi_email": pi, **({"project_id": project} if project else {}), **({"fund_org": fund} if fund else {})}
    return out | extra


def build(path: Path) -> dict[str, int]:
    """Write the history into a new billing.db at `path`; returns a few of its row ids."""
    repo = OcbRepository(path, START)
    repo.initialize()
    aws = repo.get_or_create_source("AWS", "Amazon Web Services")
    hpc = repo.get_or_create_source("HPC", "HPC Cluster")
    azure = repo.get_or_create_source("Azure Local")
    jan = repo.get_or_create_period("2025-01")
    ids: dict[str, int] = {}

    def charge(period_id, source_id, resource, billed, pi, project, fund, **kw):
        ids[resource] = repo.insert_charge(period_id, source_id, billed=billed, pi_email=pi, resource_id=resource,
                                           project_id=project, fund_org=fund, raw_tags=tags(pi, project, fund), **kw)

    # ingest aws_2025-01.csv (OpenChargeback's layout: inclusive date-only charge periods)
    period = {"charge_period_start": "2025-01-01", "charge_period_end": "2025-01-31"}
    charge(jan, aws, "i-0001", 1062.5, ADA, "astro-survey", "ASTR-100234", list_cost=1250.0, contracted_cost=1062.5,
           effective_cost=1062.5, service_name="Amazon EC2", reference_1="NSF-2412345", **period)
    charge(jan, aws, "i-0002", 0.1, ADA, "astro-survey", "ASTR-100234", list_cost=0.1, service_name="Amazon S3",
           **period)
    charge(jan, aws, "i-0003", 0.2, ADA, "astro-survey", "ASTR-100234", list_cost=0.2, service_name="Amazon S3",
           **period)
    charge(jan, aws, "i-0004", 40.0, GRACE, "genomics", None, list_cost=40.0, service_name="Amazon EC2",
           needs_review=True, review_reason="missing_fund_org", **period)
    charge(jan, aws, "test-vm", 12.34, GRACE, "genomics", "GENE-300222", service_name="Amazon EC2",
           resource_name="test-sandbox", needs_review=True, review_reason="pattern_match:^test-", **period)
    repo.log_import("aws_2025-01.csv", aws, jan, 5, 1062.5 + 0.1 + 0.2 + 40.0 + 12.34, 2, 40.0 + 12.34)
    # ingest hpc_2025-01.csv: a fully subsidised job (list 800, billed 0) with no charge period, and 100/3
    charge(jan, hpc, "job-77", 0.0, GRACE, "genomics", "GENE-300222", list_cost=800.0, service_name="Slurm")
    charge(jan, hpc, "job-78", 100 / 3, ADA, "astro-survey", "ASTR-100234", service_name="Slurm", **period)
    repo.log_import("hpc_2025-01.csv", hpc, jan, 2, 100 / 3)
    # ingest azure-local_2025-01.csv
    charge(jan, azure, "vm-ml", 250.75, ALAN, "ml-infra", "CS-400333", service_name="Azure Local VM", **period)
    charge(jan, azure, "vm-scratch", 5.25, ALAN, None, "CS-400333", service_name="Azure Local VM",
           needs_review=True, review_reason="missing_project", **period)
    repo.log_import("azure-local_2025-01.csv", azure, jan, 2, 256.0, 1, 5.25)

    # review on the web (approve with a note, reject with a note), then `openchargeback review approve -p` (no user)
    repo.approve_charge(ids["i-0004"], REVIEWER)
    repo.log_review_action(jan, ids["i-0004"], "approved", "fund on file: BIOL-200111", REVIEWER)
    repo.reject_charge(ids["test-vm"], REVIEWER, "sandbox, not billable")
    repo.log_review_action(jan, ids["test-vm"], "rejected", "sandbox, not billable", REVIEWER)
    repo.con.execute("UPDATE charges SET needs_review = 0, reviewed_at = ?, reviewed_by = NULL "
                     "WHERE billing_period_id = ? AND needs_review = 1", [repo.now(), jan])
    repo.con.commit()

    # close (web), generate and send (one email per PI, its first statement's id logged), journal, finalize
    repo.update_period_status("2025-01", "closed", ADMIN)
    valid = repo.con.execute(
        "SELECT pi_email, coalesce(project_id, '(no project)'), fund_org, billed_cost FROM charges "
        "WHERE billing_period_id = ? AND needs_review = 0 AND rejected_at IS NULL ORDER BY id", [jan]).fetchall()
    projects: dict[tuple[str, str], list] = {}
    for pi, project, fund, billed in valid:
        projects.setdefault((pi, project), [fund, 0.0])[1] += billed
    statement_ids: dict[str, list[int]] = {}
    for (pi, project), (fund, total) in projects.items():
        sid = repo.upsert_statement(jan, pi, project, fund, total, f"./instance/output/pdfs/2025-01_{pi}_{project}.pdf")
        statement_ids.setdefault(pi, []).append(sid)
    outcomes = {ADA: ("success", None), GRACE: ("error", "SMTP 550: mailbox unavailable"), ALAN: ("dev_mode", None)}
    for pi, sids in statement_ids.items():
        status, error = outcomes[pi]
        ids[f"email:{pi}"] = repo.log_email(pi, SUBJECT.format(period="2025-01"), status, "system", sids[0], error)
        if status != "error":
            for sid in sids:
                repo.mark_statement_sent(sid)
    repo.log_journal_export(jan, "gl", False, len(valid), sum(b for *_, b in valid), ADMIN,
                            "journal_2025-01_gl_20250203.csv")
    repo.update_period_status("2025-01", "finalized", ADMIN)

    # 2025-02: closed by the CLI (no user), reopened on the web with a reason, closed again; one charge still flagged
    feb = repo.get_or_create_period("2025-02")
    charge(feb, aws, "i-0101", 20.0, ADA, "astro-survey", "ASTR-100234", service_name="Amazon EC2",
           charge_period_start="2025-02-01", charge_period_end="2025-02-28")
    charge(feb, aws, "i-0102", 7.5, GRACE, "genomics", None, service_name="Amazon EC2", needs_review=True,
           review_reason="missing_fund_org", charge_period_start="2025-02-01", charge_period_end="2025-02-28")
    repo.update_period_status("2025-02", "closed", None)
    repo.reopen_period("2025-02", "late HPC file", ADMIN)
    repo.update_period_status("2025-02", "closed", ADMIN)
    repo.upsert_statement(feb, ADA, "astro-survey", "ASTR-100234", 20.0, "./instance/output/pdfs/2025-02_ada.pdf")

    # 2025-03: the current, open month
    mar = repo.get_or_create_period("2025-03")
    charge(mar, aws, "i-0201", 3.0, ADA, "astro-survey", "ASTR-100234", charge_period_start="2025-03-01")
    repo.close()
    return ids


def total(amounts: dict[str, str]) -> Decimal:
    return sum((Decimal(v) for v in amounts.values()), Decimal(0))
