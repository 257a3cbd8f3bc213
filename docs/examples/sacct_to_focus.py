"""Turn Slurm accounting (sacct) into a FOCUS CSV that `ocb ingest` accepts: one row per finished job.

    sacct --allusers --allocations --parsable2 --noheader --starttime 2025-03-01 --endtime 2025-04-01 \
          --state CD,F,TO,CA,OOM,NF --format JobID,JobName,Account,User,Partition,QOS,Start,End,CPUTimeRAW,Cluster \
      | python sacct_to_focus.py 2025-03 slurm_accounts.csv > hpc_2025-03.csv

slurm_accounts.csv maps each Slurm account to its PI, project and fund (columns account, pi_email,
project_id, fund_org). A job is billed in the month it ended, by core-hour: ListCost at the list rate,
BilledCost at the rate PIs pay (the difference shows as a subsidy on statements). Amounts are Decimals.
An account missing from the mapping gets empty tags, so its jobs go to review instead of being dropped.
"""

import csv
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal

LIST_RATE = Decimal("0.045")  # list price per core-hour
BILLED_RATE = Decimal("0.015")  # what a PI pays per core-hour
COLUMNS = [
    "BillingAccountId", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart",
    "ChargePeriodEnd", "ChargeCategory", "ChargeDescription", "ProviderName", "ServiceName", "ServiceCategory",
    "ResourceId", "ResourceName", "SubAccountId", "PricingQuantity", "PricingUnit", "ListUnitPrice", "ListCost",
    "ContractedCost", "BilledCost", "EffectiveCost", "Tags", "x_Cluster", "x_Partition", "x_QOS", "x_User",
]  # fmt: skip


def utc(text: str) -> str:
    """sacct prints the cluster's local time without a zone; FOCUS wants UTC with a Z."""
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def convert(lines, month: str, accounts: dict[str, dict[str, str]], out) -> None:
    year, mon = (int(x) for x in month.split("-"))
    start = f"{month}-01T00:00:00Z"
    end = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}-01T00:00:00Z"
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for line in lines:
        job, name, account, user, partition, qos, began, ended, cpu_seconds, cluster = line.rstrip("\n").split("|")
        if cpu_seconds in ("", "0") or not (start <= utc(ended) < end):
            continue  # never ran, or ended outside the month (sacct can return jobs just outside the window)
        core_hours = (Decimal(cpu_seconds) / 3600).quantize(Decimal("0.0001"))
        owner = accounts.get(account, {})
        tags = {k: owner[k] for k in ("pi_email", "project_id", "fund_org") if owner.get(k)}
        listed, billed = core_hours * LIST_RATE, core_hours * BILLED_RATE
        writer.writerow([
            "RC-HPC", "USD", start, end, utc(began), utc(ended), "Usage", f"CPU core-hours on {partition}",
            "Research Computing", "HPC Compute", "Compute", f"slurm:{cluster}:job/{job}", name, account,
            core_hours, "Core-Hours", LIST_RATE, listed, billed, billed, billed, json.dumps(tags),
            cluster, partition, qos, user,
        ])  # fmt: skip


if __name__ == "__main__":
    with open(sys.argv[2], newline="", encoding="utf-8") as handle:
        mapping = {row["account"]: row for row in csv.DictReader(handle)}
    convert(sys.stdin, sys.argv[1], mapping, sys.stdout)
