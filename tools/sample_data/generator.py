"""Generator of FICTIONAL FinOps FOCUS billing exports (FOCUS 1.0, 1.1, 1.2 and 1.3).

Every row is built inside DuckDB from ``range(N)``: each pseudo-random choice is derived from
``hash(i, seed, k)``, so the output only depends on ``(source, months, rows, version, seed,
flagged_share, extra_columns)`` (for one DuckDB version), and big files are streamed to disk
without holding rows in Python memory.

Money is carried as integers in units of 1e-10 USD and rendered through DECIMAL arithmetic, so no
float noise or ``1e-05`` notation can appear. All people, accounts, projects and funds are fictional;
e-mail addresses are always at ``example.edu`` or ``example.org``.

CSV / CSV.gz: text only; dates ``2025-01-01T00:00:00Z``; null = empty field; Tags and SkuPriceDetails
are JSON object text (RFC 4180 quoting with doubled quotes). CSV files above ``_CHUNK_ROWS`` rows are
written as chunks in parallel and concatenated (a ``.csv.gz`` is then a multi-member gzip file).
Parquet: DECIMAL(38, 10) money and quantities, TIMESTAMP WITH TIME ZONE (UTC) dates,
``MAP(VARCHAR, VARCHAR)`` Tags, VARCHAR for everything else.

Usage::

    python -m tools.sample_data.generator --out DIR --source aws --months 2025-01,2025-02 \\
        --rows 1000 --version 1.2 --format csv.gz --seed 1
    python -m tools.sample_data.generator --sample-set DIR
"""

from __future__ import annotations

import argparse
import calendar
import functools
import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from ocb_pipelines.core.billing_month import BillingMonth
from ocb_pipelines.ingest.focus import FOCUS_1_0, FOCUS_1_1_ADDED, FOCUS_1_2_ADDED, FOCUS_1_3_ADDED

__all__ = [
    "FOCUS_VERSIONS",
    "FORMATS",
    "PROJECTS",
    "SOURCES",
    "TAG_KEYS",
    "focus_columns",
    "generate_focus_file",
    "generate_sample_set",
    "main",
    "x_columns",
]

FOCUS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
FORMATS = ("csv", "csv.gz", "parquet")
SOURCES = ("aws", "azure", "gcp", "hpc", "storage")
TAG_KEYS = ("pi_email", "project_id", "fund_org", "cost_center", "account_code", "grant_number", "request_id")

# --------------------------------------------------------------------------------------------------
# FOCUS column sets (FOCUS_Spec tags v1.0 / v1.1 / v1.2, plus the 8 columns added in 1.3)
# --------------------------------------------------------------------------------------------------

_ADDED = {"1.0": FOCUS_1_0, "1.1": FOCUS_1_1_ADDED, "1.2": FOCUS_1_2_ADDED, "1.3": FOCUS_1_3_ADDED}

_MONEY_COLUMNS = frozenset(
    {
        "BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "ContractedUnitPrice", "ListUnitPrice",
        "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
    }
)  # fmt: skip
_QUANTITY_COLUMNS = frozenset({"ConsumedQuantity", "PricingQuantity", "CommitmentDiscountQuantity"})
_TIME_COLUMNS = frozenset({"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"})


def focus_columns(version: str) -> list[str]:
    """Return the FOCUS column names of ``version`` (43/50/57/65 columns), in export order (A-Z)."""
    if version not in FOCUS_VERSIONS:
        raise ValueError(f"unknown FOCUS version {version!r}; expected one of {FOCUS_VERSIONS}")
    cols: list[str] = []
    for v in FOCUS_VERSIONS[: FOCUS_VERSIONS.index(version) + 1]:
        cols.extend(_ADDED[v])
    return sorted(cols)


# --------------------------------------------------------------------------------------------------
# Fictional organisation: 20 PIs (historical scientists), 40 projects, funds, grants
# --------------------------------------------------------------------------------------------------

_PIS: tuple[tuple[str, str, str], ...] = (
    ("Ada", "Lovelace", "example.edu"),
    ("Alan", "Turing", "example.edu"),
    ("Grace", "Hopper", "example.edu"),
    ("Marie", "Curie", "example.edu"),
    ("Rosalind", "Franklin", "example.edu"),
    ("Charles", "Darwin", "example.edu"),
    ("Emmy", "Noether", "example.edu"),
    ("Niels", "Bohr", "example.edu"),
    ("Lise", "Meitner", "example.edu"),
    ("Richard", "Feynman", "example.edu"),
    ("Barbara", "McClintock", "example.edu"),
    ("Carl", "Gauss", "example.edu"),
    ("Edwin", "Hubble", "example.edu"),
    ("Henrietta", "Leavitt", "example.edu"),
    ("Dorothy", "Hodgkin", "example.edu"),
    ("Gregor", "Mendel", "example.edu"),
    ("Katherine", "Johnson", "example.edu"),
    ("Srinivasa", "Ramanujan", "example.org"),
    ("Chien-Shiung", "Wu", "example.edu"),
    ("Alexander", "Fleming", "example.org"),
)

# (project_id, ORGN, index into _PIS)
_PROJECTS: tuple[tuple[str, str, int], ...] = (
    ("chem-md-sim", "CHEM", 3), ("chem-dft-screen", "CHEM", 3), ("chem-radio-iso", "CHEM", 3),
    ("chem-catalysis", "CHEM", 14), ("chem-crystallography", "CHEM", 14),
    ("astro-survey", "ASTRO", 12), ("astro-cmb-lens", "ASTRO", 12), ("astro-transients", "ASTRO", 13),
    ("astro-cepheids", "ASTRO", 13),
    ("genomics-wgs", "BIOL", 4), ("genomics-rnaseq", "BIOL", 4), ("bio-dna-structure", "BIOL", 4),
    ("bio-cryoem", "BIOL", 14), ("bio-evo-phylo", "BIOL", 5), ("bio-microbiome", "BIOL", 5),
    ("bio-pea-genetics", "BIOL", 15), ("bio-maize-epigen", "BIOL", 10), ("bio-transposons", "BIOL", 10),
    ("phys-lattice-qcd", "PHYS", 9), ("phys-qed-precision", "PHYS", 9), ("phys-nanotech", "PHYS", 9),
    ("phys-plasma-sim", "PHYS", 8), ("phys-nuclear-fission", "PHYS", 8), ("phys-cond-matter", "PHYS", 7),
    ("phys-quantum-opt", "PHYS", 7), ("phys-beta-decay", "PHYS", 18), ("phys-neutrino", "PHYS", 18),
    ("cs-llm-finetune", "CSCI", 1), ("cs-crypto-bench", "CSCI", 1), ("cs-morphogenesis", "CSCI", 1),
    ("cs-compilers", "CSCI", 2), ("cs-graph-mining", "CSCI", 2), ("cs-robotics-sim", "CSCI", 0),
    ("math-numtheory", "MATH", 17), ("math-diffgeom", "MATH", 11), ("math-stats-bayes", "MATH", 11),
    ("math-algebra-sym", "MATH", 6), ("geo-orbit-mech", "GEOS", 16), ("geo-climate-ens", "GEOS", 16),
    ("med-antibiotic-res", "MEDI", 19),
)  # fmt: skip

_COST_CENTERS = {
    "CHEM": "CC-4410", "ASTRO": "CC-4420", "BIOL": "CC-4430", "PHYS": "CC-4440",
    "CSCI": "CC-4450", "MATH": "CC-4460", "GEOS": "CC-4470", "MEDI": "CC-4480",
}  # fmt: skip
_AGENCIES = {
    "CHEM": "NSF", "ASTRO": "NASA", "BIOL": "NIH", "PHYS": "DOE",
    "CSCI": "NSF", "MATH": "NSF", "GEOS": "NASA", "MEDI": "NIH",
}  # fmt: skip
_DEPARTMENTS = tuple(_COST_CENTERS)
_SPLIT_FUND_PROJECTS = frozenset({0, 9, 18, 27, 37})  # these projects bill two funds
_ACCOUNT_CODES = ("54100", "54110", "54120", "54200", "54310")


@dataclass(frozen=True)
class _Project:
    project_id: str
    orgn: str
    pi_email: str
    pi_user: str
    fund: str
    fund2: str | None
    cost_center: str
    grant_number: str | None
    request_id: str
    account_code: str
    department: int


def _pi_email(first: str, last: str, domain: str) -> str:
    return f"{first.lower()}.{last.lower()}@{domain}"


def _projects() -> tuple[_Project, ...]:
    """The fixed, fictional project table shared by all sources (seed independent)."""
    out = []
    for idx, (pid, orgn, pi) in enumerate(_PROJECTS):
        first, last, domain = _PIS[pi]
        fund = f"{100000 + (idx * 37813 + 12345) % 900000:06d}"
        fund2 = f"{100000 + (idx * 52711 + 67890) % 900000:06d}" if idx in _SPLIT_FUND_PROJECTS else None
        grant = None if idx % 7 == 3 else f"{_AGENCIES[orgn]}-{2400000 + (idx * 7919 + 1117) % 100000:07d}"
        out.append(
            _Project(
                project_id=pid,
                orgn=orgn,
                pi_email=_pi_email(first, last, domain),
                pi_user=(first[0] + last).lower().replace("-", ""),
                fund=fund,
                fund2=fund2,
                cost_center=_COST_CENTERS[orgn],
                grant_number=grant,
                request_id=f"RITM{1000000 + idx * 2711:07d}",
                account_code=_ACCOUNT_CODES[idx % len(_ACCOUNT_CODES)],
                department=_DEPARTMENTS.index(orgn),
            )
        )
    return tuple(out)


PROJECTS = _projects()


# --------------------------------------------------------------------------------------------------
# Source catalogues
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Product:
    """One SKU of a source; templates may use {proj} {projc} {projus} {sub} {region} {zone} {hex} {hex8}
    {n} {job} {jobname} {subdir}."""

    service: str
    category: str
    subcategory: str
    resource_type: str | None
    unit: str
    list_price: str
    meter: str
    description: str
    resource_id: str | None
    resource_name: str | None
    qty: tuple[str, str, str] = ("1", "1", "1")  # min, max, step (units)
    counts: tuple[int, ...] = (1,)  # multipliers for job-mode (cores / GPUs)
    weight: int = 1
    zonal: bool = False
    spot: bool = False
    free_units: int = 0
    details: dict[str, str | int] | None = None
    x: tuple[str, ...] = ()
    tag_extra: str = ""
    purchase: bool = False
    contracted_price: str | None = None  # default: list price x source contracted_ppm


@dataclass(frozen=True)
class _Source:
    provider: str
    invoice_issuer: str
    billing_account_id: str
    billing_account_name: str
    billing_account_type: str
    sub_account_type: str
    period: str  # hour | day | month | job
    rows_per_resource: int
    contracted_ppm: int
    cents: bool
    invoice_prefix: str
    products: tuple[_Product, ...]
    x_columns: tuple[str, ...] = ()
    regions: tuple[tuple[str, str], ...] = ()
    zone_suffixes: tuple[str, ...] = ()
    spot_pct: int = 0
    spot_ppm: int = 1_000_000
    subsidy: tuple[tuple[int, int], ...] = ()  # (cumulative pct threshold, billed ppm)
    credit_bp: int = 100  # per 10,000 rows
    tax_bp: int = 0
    purchase_bp: int = 0
    adjustment_bp: int = 0
    marketplace: bool = False
    credit_descriptions: tuple[str, ...] = ("Service credit",)
    noise_tags: tuple[str, ...] = field(default_factory=tuple)  # JSON fragments, may use {proj}
    typical_row_cents: int = 100  # rough mean BilledCost of a usage row, scales tax/credit/fee amounts


_AWS_EC2 = "arn:aws:ec2:{region}:{sub}:instance/i-0{hex}"
_AZ_RG = "/subscriptions/{sub}/resourceGroups/rg-{proj}/providers/"
_GCP_VM = "//compute.googleapis.com/projects/{sub}/zones/{zone}/instances/{proj}-vm-{n}"


def _aws_ec2(itype: str, price: str, weight: int, vcpu: int, mem: int, name: str) -> _Product:
    return _Product(
        "Amazon EC2", "Compute", "Virtual Machines", "Instance", "Hours", price, f"{itype} Linux",
        f"${price} per On Demand Linux {itype} Instance Hour", _AWS_EC2, "{proj}-" + name + "-{n}",
        qty=("0.25", "1", "0.25"), weight=weight, zonal=True, spot=True,
        details={"InstanceType": itype, "vCPU": vcpu, "MemoryGiB": mem, "OperatingSystem": "Linux"},
        x=("AmazonEC2", f"BoxUsage:{itype}", "RunInstances"),
    )  # fmt: skip


_AWS = _Source(
    typical_row_cents=30,
    provider="Amazon Web Services",
    invoice_issuer="Amazon Web Services",
    billing_account_id="123456789012",
    billing_account_name="Example University AWS Payer",
    billing_account_type="Payer Account",
    sub_account_type="Linked Account",
    period="hour",
    rows_per_resource=8,
    contracted_ppm=950_000,
    cents=False,
    invoice_prefix="EUINUS",
    x_columns=("x_ServiceCode", "x_UsageType", "x_Operation"),
    regions=(
        ("us-east-1", "US East (N. Virginia)"),
        ("us-east-1", "US East (N. Virginia)"),
        ("us-east-2", "US East (Ohio)"),
        ("us-west-2", "US West (Oregon)"),
    ),
    zone_suffixes=("a", "b", "c"),
    spot_pct=10,
    spot_ppm=350_000,
    credit_bp=100,
    tax_bp=100,
    purchase_bp=50,
    marketplace=True,
    credit_descriptions=("AWS Cloud Credit for Research", "AWS service credit", "Refund for over-billing"),
    noise_tags=('"aws:cloudformation:stack-name":"{proj}-stack"',),
    products=(
        _aws_ec2("m6i.xlarge", "0.192", 20, 4, 16, "node"),
        _aws_ec2("c6i.4xlarge", "0.68", 8, 16, 32, "hpc"),
        _aws_ec2("g5.2xlarge", "1.212", 6, 8, 32, "gpu"),
        _Product(
            "Amazon Elastic Block Store", "Storage", "Block Storage", "Volume", "GB-Months", "0.08",
            "gp3 Storage", "$0.08 per GB-month of General Purpose (gp3) provisioned storage",
            "arn:aws:ec2:{region}:{sub}:volume/vol-0{hex}", "{proj}-vol-{n}",
            qty=("0.013699", "2.739726", "0.000001"), weight=12, zonal=True,
            details={"VolumeType": "gp3"}, x=("AmazonEC2", "EBS:VolumeUsage.gp3", "CreateVolume-Gp3"),
        ),
        _Product(
            "Amazon S3", "Storage", "Object Storage", "Bucket", "GB-Months", "0.023", "Standard Storage",
            "$0.023 per GB - first 50 TB / month of storage used", "arn:aws:s3:::{proj}-{hex8}",
            "{proj}-{hex8}", qty=("0.01", "150", "0.000001"), weight=14,
            details={"StorageClass": "Standard"}, x=("AmazonS3", "TimedStorage-ByteHrs", "StandardStorage"),
        ),
        _Product(
            "Amazon S3", "Storage", "Object Storage", "Bucket", "Requests", "0.0000004", "GET Requests",
            "$0.0004 per 1,000 GET and all other requests", "arn:aws:s3:::{proj}-{hex8}", "{proj}-{hex8}",
            qty=("1", "50000", "1"), weight=6, x=("AmazonS3", "Requests-Tier2", "GetObject"),
        ),
        _Product(
            "Amazon RDS", "Databases", "Relational Databases", "DB Instance", "Hours", "0.225",
            "db.r6g.large PostgreSQL",
            "$0.225 per RDS db.r6g.large Single-AZ instance hour running PostgreSQL",
            "arn:aws:rds:{region}:{sub}:db:{proj}-db-{n}", "{proj}-db-{n}", weight=5, zonal=True,
            details={"InstanceType": "db.r6g.large", "DatabaseEngine": "PostgreSQL"},
            x=("AmazonRDS", "InstanceUsage:db.r6g.large", "CreateDBInstance:0014"),
        ),
        _Product(
            "AWS Lambda", "Compute", "Serverless Compute", "Function", "GB-Seconds", "0.0000166667",
            "Lambda Duration", "AWS Lambda - Total Compute - US East (N. Virginia)",
            "arn:aws:lambda:{region}:{sub}:function:{proj}-etl-{n}", "{proj}-etl-{n}",
            qty=("0.5", "20000", "0.5"), weight=5, x=("AWSLambda", "Lambda-GB-Second", "Invoke"),
        ),
        _Product(
            "Amazon SageMaker", "AI and Machine Learning", "Machine Learning", "Training Job", "Hours",
            "1.515", "ml.g5.2xlarge Training", "$1.515 per Hour for Training:ml.g5.2xlarge",
            "arn:aws:sagemaker:{region}:{sub}:training-job/{proj}-train-{hex8}", "{proj}-train-{hex8}",
            qty=("0.1", "1", "0.001"), weight=4, details={"InstanceType": "ml.g5.2xlarge"},
            x=("AmazonSageMaker", "Train:ml.g5.2xlarge", "CreateTrainingJob"),
        ),
        _Product(
            "AWS Data Transfer", "Networking", "Other (Networking)", "Instance", "GB", "0.09",
            "Data Transfer Out", "$0.090 per GB - first 10 TB / month data transfer out beyond the global "
            "free tier", _AWS_EC2, "{proj}-node-{n}", qty=("0.001", "50", "0.000001"), weight=8,
            x=("AWSDataTransfer", "DataTransfer-Out-Bytes", "RunInstances"),
        ),
        _Product(
            "Amazon CloudWatch", "Management and Governance", "Observability", "Log Group", "GB", "0.50",
            "Log Ingestion", "$0.50 per GB custom log data ingested",
            "arn:aws:logs:{region}:{sub}:log-group:/research/{proj}/app", "/research/{proj}/app",
            qty=("0.0001", "2", "0.000001"), weight=5,
            x=("AmazonCloudWatch", "DataProcessing-Bytes", "PutLogEvents"),
        ),
        _Product(
            "AWS Support (Business)", "Management and Governance", "Support", None, "Months", "0",
            "Business Support", "AWS Support (Business) monthly fee", None, None, weight=0,
            x=("AWSSupportBusiness", "Dollar", ""), purchase=True,
        ),
    ),
)  # fmt: skip


def _az_vm(size: str, price: str, weight: int, meter: str) -> _Product:
    return _Product(
        "Virtual Machines", "Compute", "Virtual Machines", "Virtual machine", "Hours", price, meter,
        f"{size} Linux virtual machine hours", _AZ_RG + "Microsoft.Compute/virtualMachines/vm-{proj}-{n}",
        "vm-{proj}-{n}", qty=("6", "24", "1"), weight=weight, spot=True,
        details={"VmSize": size, "OperatingSystem": "Linux"},
        x=("rg-{proj}", "Virtual Machines", meter),
    )  # fmt: skip


_AZURE = _Source(
    typical_row_cents=800,
    provider="Microsoft",
    invoice_issuer="Microsoft",
    billing_account_id="/providers/Microsoft.Billing/billingAccounts/" + str(
        uuid.uuid5(uuid.NAMESPACE_URL, "ocb-sample/azure/billing-account")
    ),
    billing_account_name="Example University",
    billing_account_type="Billing Account",
    sub_account_type="Subscription",
    period="day",
    rows_per_resource=6,
    contracted_ppm=900_000,
    cents=False,
    invoice_prefix="G0",
    x_columns=("x_ResourceGroupName", "x_SkuMeterCategory", "x_SkuMeterName"),
    regions=(
        ("eastus", "East US"),
        ("eastus", "East US"),
        ("westus2", "West US 2"),
        ("centralus", "Central US"),
    ),
    spot_pct=5,
    spot_ppm=200_000,
    credit_bp=100,
    tax_bp=100,
    purchase_bp=50,
    credit_descriptions=(
        "Azure Research Credits",
        "Azure Prepayment usage",
        "Service level agreement credit",
    ),
    noise_tags=('"ms-resource-usage":"azure-cloud-shell"',),
    products=(
        _az_vm("Standard_D4s_v5", "0.192", 20, "D4s v5"),
        _az_vm("Standard_NC6s_v3", "3.06", 6, "NC6s v3"),
        _Product(
            "Storage Accounts", "Storage", "Storage Platforms", "Storage account", "GB-Months", "0.0208",
            "Hot LRS Data Stored", "Hot LRS data stored",
            _AZ_RG + "Microsoft.Storage/storageAccounts/st{projc}{hex8}", "st{projc}{hex8}",
            qty=("0.3", "3000", "0.000001"), weight=18, details={"Redundancy": "LRS", "AccessTier": "Hot"},
            x=("rg-{proj}", "Storage", "Hot LRS Data Stored"),
        ),
        _Product(
            "Azure SQL Database", "Databases", "Relational Databases", "SQL database", "Hours", "0.5044",
            "vCore", "General Purpose Gen5 vCore hours",
            _AZ_RG + "Microsoft.Sql/servers/sql-{proj}/databases/{projc}db", "{projc}db",
            qty=("24", "24", "1"), weight=5, x=("rg-{proj}", "SQL Database", "vCore"),
        ),
        _Product(
            "Azure Kubernetes Service", "Compute", "Containers", "Kubernetes service", "Hours", "0.10",
            "Standard Uptime SLA", "AKS standard tier cluster management hours",
            _AZ_RG + "Microsoft.ContainerService/managedClusters/aks-{proj}", "aks-{proj}",
            qty=("24", "24", "1"), weight=6,
            x=("rg-{proj}", "Azure Kubernetes Service", "Standard Uptime SLA"),
            tag_extra='"aks-managed-cluster-name":"aks-{proj}","aks-managed-poolName":"nodepool1"',
        ),
        _Product(
            "Bandwidth", "Networking", "Other (Networking)", "Virtual machine", "GB", "0.087",
            "Standard Data Transfer Out", "Internet egress, zone 1",
            _AZ_RG + "Microsoft.Compute/virtualMachines/vm-{proj}-{n}", "vm-{proj}-{n}",
            qty=("0.01", "200", "0.000001"), weight=8,
            x=("rg-{proj}", "Bandwidth", "Standard Data Transfer Out"),
        ),
        _Product(
            "Azure Machine Learning", "AI and Machine Learning", "Machine Learning",
            "Machine learning workspace",
            "Hours", "0.90", "NC4as T4 v3", "Machine learning compute instance hours",
            _AZ_RG + "Microsoft.MachineLearningServices/workspaces/mlw-{proj}", "mlw-{proj}",
            qty=("1", "24", "0.25"), weight=4, x=("rg-{proj}", "Azure Machine Learning", "NC4as T4 v3"),
        ),
        _Product(
            "Azure Monitor", "Management and Governance", "Observability", "Log Analytics workspace", "GB",
            "2.30", "Analytics Logs Data Ingestion", "Log Analytics data ingestion",
            _AZ_RG + "Microsoft.OperationalInsights/workspaces/log-{proj}", "log-{proj}",
            qty=("0.001", "5", "0.000001"), weight=4,
            x=("rg-{proj}", "Log Analytics", "Analytics Logs Data Ingestion"),
        ),
        _Product(
            "Azure Support", "Management and Governance", "Support", None, "Months", "0", "Standard Support",
            "Azure Standard support plan", None, None, weight=0, x=("", "Azure Support", "Standard"),
            purchase=True,
        ),
    ),
)  # fmt: skip


def _gcp_vm(mtype: str, price: str, weight: int, name: str) -> _Product:
    return _Product(
        "Compute Engine", "Compute", "Virtual Machines", "Instance", "Hours", price, mtype,
        f"{mtype} instance running in Americas", _GCP_VM, "{proj}-" + name + "-{n}",
        qty=("0.25", "1", "0.25"), weight=weight, zonal=True, spot=True,
        details={"MachineType": mtype}, x=("6F81-5844-456A",),
    )  # fmt: skip


_GCP = _Source(
    typical_row_cents=100,
    provider="Google Cloud",
    invoice_issuer="Google Cloud",
    billing_account_id="01A2B3-C4D5E6-F7A8B9",
    billing_account_name="Example University Research Billing",
    billing_account_type="Billing Account",
    sub_account_type="Project",
    period="hour",
    rows_per_resource=8,
    contracted_ppm=1_000_000,
    cents=False,
    invoice_prefix="",
    x_columns=("x_ServiceId",),
    regions=(("us-central1", "Iowa"), ("us-central1", "Iowa"), ("us-east4", "Northern Virginia")),
    zone_suffixes=("-a", "-b", "-c"),
    spot_pct=8,
    spot_ppm=300_000,
    credit_bp=100,
    tax_bp=100,
    purchase_bp=50,
    credit_descriptions=("Google Cloud research credits", "Free tier", "Sustained use discount"),
    noise_tags=('"goog-ops-agent-policy":"v2-x86-template-1-4-0"',),
    products=(
        _gcp_vm("n2-standard-8", "0.388472", 22, "vm"),
        _gcp_vm("a2-highgpu-1g", "3.673385", 6, "gpu"),
        _Product(
            "Cloud Storage", "Storage", "Object Storage", "Bucket", "GB-Months", "0.020", "Standard Storage",
            "Standard Storage US Regional", "//storage.googleapis.com/projects/_/buckets/{proj}-{hex8}",
            "{proj}-{hex8}", qty=("0.01", "300", "0.000001"), weight=16,
            details={"StorageClass": "STANDARD"}, x=("95FF-2EF5-5EA1",),
        ),
        _Product(
            "BigQuery", "Databases", "Data Warehouses", "Dataset", "TB", "6.25", "Analysis",
            "Analysis (on-demand)", "//bigquery.googleapis.com/projects/{sub}/datasets/{projus}", "{projus}",
            qty=("0.000001", "2", "0.000001"), weight=10, x=("24E6-581D-38E5",),
        ),
        _Product(
            "BigQuery", "Databases", "Data Warehouses", "Dataset", "GB-Months", "0.02", "Active Storage",
            "Active Logical Storage", "//bigquery.googleapis.com/projects/{sub}/datasets/{projus}",
            "{projus}",
            qty=("0.01", "100", "0.000001"), weight=6, x=("24E6-581D-38E5",),
        ),
        _Product(
            "Vertex AI", "AI and Machine Learning", "Machine Learning", "Training Job", "Hours", "0.4",
            "Custom Training n1-standard-8", "Custom model training on n1-standard-8",
            "//aiplatform.googleapis.com/projects/{sub}/locations/{region}/customJobs/{n}",
            "{proj}-train-{n}",
            qty=("0.1", "1", "0.001"), weight=5, x=("C7E2-9256-1C43",),
        ),
        _Product(
            "Networking", "Networking", "Other (Networking)", "Instance", "GB", "0.12", "Internet Egress",
            "Network Internet Data Transfer Out from Americas to Americas", _GCP_VM, "{proj}-vm-{n}",
            qty=("0.001", "50", "0.000001"), weight=6, x=("E505-1604-58F8",),
        ),
        _Product(
            "Cloud Logging", "Management and Governance", "Observability", "Log Bucket", "GB", "0.50",
            "Log Storage", "Log Storage cost", "//logging.googleapis.com/projects/{sub}/buckets/_Default",
            "_Default", qty=("0.0001", "2", "0.000001"), weight=3, x=("5490-F7B7-8DF6",),
        ),
        _Product(
            "Cloud Customer Care", "Management and Governance", "Support", None, "Months", "0",
            "Standard Support", "Standard Support monthly fee", None, None, weight=0, x=("2062-016F-44A2",),
            purchase=True,
        ),
    ),
)  # fmt: skip

_HPC = _Source(
    typical_row_cents=1500,
    provider="Research Computing",
    invoice_issuer="Research Computing",
    billing_account_id="RC-HPC",
    billing_account_name="Research Computing HPC Recharge",
    billing_account_type="Recharge Center",
    sub_account_type="Slurm Account",
    period="job",
    rows_per_resource=1,
    contracted_ppm=1_000_000,
    cents=True,
    invoice_prefix="RC-HPC-",
    x_columns=("x_Cluster", "x_Partition", "x_QOS"),
    subsidy=((15, 0), (50, 500_000)),
    credit_bp=100,
    adjustment_bp=30,
    credit_descriptions=("Refund: job failed due to node fault", "Allocation credit", "Maintenance credit"),
    noise_tags=('"wckey":"{proj}"',),
    products=(
        _Product(
            "HPC Compute", "Compute", "Other (Compute)", "Slurm Job", "Core-Hours", "0.045", "standard",
            "CPU core-hours on partition standard", "slurm:cluster1:job/{job}", "{jobname}",
            counts=(1, 2, 4, 8, 16, 16, 32, 48, 64, 128), weight=70,
            details={"Partition": "standard", "CoresPerNode": 64}, x=("cluster1", "standard", "normal"),
            contracted_price="0.015",
        ),
        _Product(
            "HPC Compute", "Compute", "Other (Compute)", "Slurm Job", "Core-Hours", "0.06", "bigmem",
            "CPU core-hours on partition bigmem", "slurm:cluster1:job/{job}", "{jobname}",
            counts=(4, 8, 16, 32, 64), weight=10,
            details={"Partition": "bigmem", "CoresPerNode": 64}, x=("cluster1", "bigmem", "normal"),
            contracted_price="0.02",
        ),
        _Product(
            "HPC GPU", "Compute", "Other (Compute)", "Slurm Job", "GPU-Hours", "1.20", "gpu-a100",
            "GPU-hours on partition gpu (A100)", "slurm:cluster1:job/{job}", "{jobname}",
            counts=(1, 1, 2, 4, 8), weight=20,
            details={"Partition": "gpu", "GpuModel": "A100"}, x=("cluster1", "gpu", "gpu-normal"),
            contracted_price="0.40",
        ),
    ),
)  # fmt: skip

_STORAGE = _Source(
    typical_row_cents=25000,
    provider="Research Computing",
    invoice_issuer="Research Computing",
    billing_account_id="RC-STORAGE",
    billing_account_name="Research Computing Storage Recharge",
    billing_account_type="Recharge Center",
    sub_account_type="Storage Allocation",
    period="month",
    rows_per_resource=1,
    contracted_ppm=500_000,
    cents=True,
    invoice_prefix="RC-STO-",
    x_columns=("x_Filesystem", "x_StorageTier"),
    credit_bp=100,
    adjustment_bp=30,
    credit_descriptions=("Quota correction credit", "Data migration credit"),
    noise_tags=('"quota_tb":"10"',),
    products=(
        _Product(
            "Research Storage", "Storage", "File Storage", "Project Directory", "GB-Months", "0.020",
            "standard", "Research storage (NFS), first 500 GB free", "nfs:/projects/{proj}{subdir}",
            "{proj}{subdir}", qty=("10", "100000", "0.001"), weight=70, free_units=500,
            details={"Tier": "standard", "FreeTierGB": 500}, x=("nfs-projects01", "standard"),
        ),
        _Product(
            "Archive Storage", "Storage", "Other (Storage)", "Archive Directory", "GB-Months", "0.004",
            "archive", "Tape archive storage", "nfs:/archive/{proj}{subdir}", "{proj}{subdir}",
            qty=("100", "500000", "0.001"), weight=30, details={"Tier": "archive"},
            x=("tape-archive01", "archive"),
        ),
    ),
)  # fmt: skip

_SOURCES: dict[str, _Source] = {"aws": _AWS, "azure": _AZURE, "gcp": _GCP, "hpc": _HPC, "storage": _STORAGE}

_JOB_NAMES = (
    "md_run", "dft_opt", "align_bwa", "mcmc_chain", "cfd_les", "train_cnn", "postproc", "array_task",
)  # fmt: skip
_SUBDIRS = ("", "/data", "/scratch", "/shared", "/results", "/raw", "/users")
_ENVS = ("prod", "dev", "staging", "research")


def x_columns(source: str) -> list[str]:
    """Return the provider-specific ``x_`` column names written when ``extra_columns=True``."""
    return list(_source(source).x_columns)


def _source(source: str) -> _Source:
    try:
        return _SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}") from None


def _sub_accounts(source: str) -> list[tuple[str, str]]:
    """(SubAccountId, SubAccountName) per project."""
    out = []
    for p in PROJECTS:
        dept = _DEPARTMENTS[p.department].lower()
        if source == "aws":
            acct = 210000000000 + (p.department * 104729 + 7) * 1000003 % 10**11
            out.append((str(acct), f"research-{dept}"))
        elif source == "azure":
            sub = uuid.uuid5(uuid.NAMESPACE_URL, f"ocb-sample/azure/subscription/{dept}")
            out.append((str(sub), f"sub-research-{dept}"))
        elif source == "gcp":
            out.append((f"rc-{p.project_id}", p.project_id))
        else:
            out.append((p.project_id, f"{p.project_id} ({p.pi_email.split('@')[0]})"))
    return out


# --------------------------------------------------------------------------------------------------
# SQL building helpers
# --------------------------------------------------------------------------------------------------

_CHUNK_ROWS = 250_000  # CSV files above this size are written in parallel chunks
_MAX_WORKERS = 4
_SCALE = 10**10  # money unit: 1e-10 USD
_QSCALE = 10**6  # quantity unit: 1e-6


def _s(value: str | None) -> str:
    """SQL string literal (or NULL)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _str_list(values: Sequence[str | None]) -> str:
    return "([" + ", ".join(_s(v) for v in values) + "]::VARCHAR[])"


def _int_list(values: Sequence[int]) -> str:
    return "([" + ", ".join(str(int(v)) for v in values) + "]::BIGINT[])"


def _scaled(value: str, scale: int) -> int:
    scaled = Decimal(value) * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more fractional digits than the scale allows")
    return int(scaled)


def _sku_id(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest().upper()
    return "".join(c for c in digest if c.isalnum())[:14]


_PLACEHOLDERS = {
    "{proj}": "proj",
    "{projc}": "replace(proj, '-', '')",
    "{projus}": "replace(proj, '-', '_')",
    "{sub}": "sub_id",
    "{region}": "coalesce(region_id, '')",
    "{zone}": "coalesce(zone, '')",
    "{hex}": "hex16",
    "{hex8}": "left(hex16, 8)",
    "{n}": "CAST(r AS VARCHAR)",
    "{job}": "CAST(100000 + r * 3 + hr5 % 3 AS VARCHAR)",
    "{jobname}": "jobname",
    "{subdir}": "subdir",
}


def _template(array_sql: str, templates: Sequence[str | None], index: str = "p") -> str:
    """SQL expression applying the placeholder replacements used by ``templates`` to ``array[index]``."""
    expr = f"{array_sql}[{index}]"
    used = {ph for t in templates if t for ph in _PLACEHOLDERS if ph in t}
    for ph in sorted(used):
        expr = f"replace({expr}, '{ph}', {_PLACEHOLDERS[ph]})"
    return expr


def _month_bounds(month: str) -> tuple[int, int, int, int]:
    """(year, month, next year, next month) of a `YYYY-MM` (core.billing_month's rule, BillingMonthError else)."""
    this = BillingMonth.parse(month)
    after = this.next()
    return this.year, this.month, after.year, after.month


def _build_query(
    src: _Source,
    source: str,
    months: Sequence[str],
    rows: int,
    version: str,
    fmt: str,
    seed: int,
    flagged_share: float,
    extra_columns: bool,
    start: int,
    stop: int,
) -> str:
    """Return the SELECT statement producing rows ``start <= i < stop`` of the export (in order of ``i``)."""
    products = src.products
    parquet = fmt == "parquet"

    # months --------------------------------------------------------------------------------------
    m_start, m_end, m_hours, m_days, m_inv = [], [], [], [], []
    for month in months:
        y, mo, ny, nmo = _month_bounds(month)
        days = calendar.monthrange(y, mo)[1]
        m_start.append(f"TIMESTAMP '{y:04d}-{mo:02d}-01 00:00:00'")
        m_end.append(f"TIMESTAMP '{ny:04d}-{nmo:02d}-01 00:00:00'")
        m_days.append(days)
        m_hours.append(days * 24)
        if source == "gcp":
            m_inv.append(f"{3000000000 + y % 100 * 10000 + mo * 100 + 17}")
        else:
            m_inv.append(f"{src.invoice_prefix}{y % 100:02d}{mo:02d}-{(y * 12 + mo) * 7919 % 1000000:06d}")
    nm = len(months)

    # products ------------------------------------------------------------------------------------
    lut: list[int] = []
    for k, prod in enumerate(products, start=1):
        lut.extend([k] * prod.weight)
    lut = [lut[(n * len(lut)) // 1000] for n in range(1000)]
    purchase_idx = next((k for k, p in enumerate(products, start=1) if p.purchase), None)
    qmin = [_scaled(p.qty[0], _QSCALE) for p in products]
    qstep = [_scaled(p.qty[2], _QSCALE) for p in products]
    qmax = [_scaled(p.qty[1], _QSCALE) for p in products]
    qn = [(hi - lo) // st + 1 for lo, hi, st in zip(qmin, qmax, qstep, strict=True)]
    lp = [_scaled(p.list_price, _SCALE) for p in products]
    cp = [
        _scaled(p.contracted_price, _SCALE) if p.contracted_price else v * src.contracted_ppm // 1_000_000
        for p, v in zip(products, lp, strict=True)
    ]
    sku = [_sku_id(source, p.service, p.meter) for p in products]
    skuprice = [f"{s}.{_sku_id(source, 'price', p.meter)[:10]}" for s, p in zip(sku, products, strict=True)]
    details = [json.dumps(p.details, separators=(",", ":")) if p.details else None for p in products]
    counts = "[" + ", ".join(_int_list(p.counts) for p in products) + "]"
    rid_t = [p.resource_id for p in products]
    rname_t = [p.resource_name for p in products]
    tagx_t = [p.tag_extra or None for p in products]

    arr = {
        "svc": _str_list([p.service for p in products]),
        "cat": _str_list([p.category for p in products]),
        "subcat": _str_list([p.subcategory for p in products]),
        "rtype": _str_list([p.resource_type for p in products]),
        "unit": _str_list([p.unit for p in products]),
        "meter": _str_list([p.meter for p in products]),
        "desc": _str_list([p.description for p in products]),
        "sku": _str_list(sku),
        "skuprice": _str_list(skuprice),
        "details": _str_list(details),
        "rid": _str_list(rid_t),
        "rname": _str_list(rname_t),
        "tagx": _str_list(tagx_t),
    }

    # projects ------------------------------------------------------------------------------------
    nproj = len(PROJECTS)
    subs = _sub_accounts(source)
    parr = {
        "proj": _str_list([p.project_id for p in PROJECTS]),
        "orgn": _str_list([p.orgn for p in PROJECTS]),
        "fund1": _str_list([p.fund for p in PROJECTS]),
        "fund2": _str_list([p.fund2 for p in PROJECTS]),
        "pi": _str_list([p.pi_email for p in PROJECTS]),
        "piuser": _str_list([p.pi_user for p in PROJECTS]),
        "cc": _str_list([p.cost_center for p in PROJECTS]),
        "grant": _str_list([p.grant_number for p in PROJECTS]),
        "req": _str_list([p.request_id for p in PROJECTS]),
        "acode": _str_list([p.account_code for p in PROJECTS]),
        "subid": _str_list([s[0] for s in subs]),
        "subname": _str_list([s[1] for s in subs]),
    }

    # resources -----------------------------------------------------------------------------------
    if src.rows_per_resource <= 1:
        r_expr = "i"
    else:
        n_res = max(25, rows // src.rows_per_resource)
        r_expr = f"CAST(h_res % {n_res} AS BIGINT)"
    if src.regions:
        region_id = f"{_str_list([r[0] for r in src.regions])}[CAST(hr3 % {len(src.regions)} AS BIGINT) + 1]"
        region_name = (
            f"{_str_list([r[1] for r in src.regions])}[CAST(hr3 % {len(src.regions)} AS BIGINT) + 1]"
        )
    else:
        region_id = region_name = "CAST(NULL AS VARCHAR)"
    if src.zone_suffixes:
        nz = len(src.zone_suffixes)
        zone = f"region_id || {_str_list(src.zone_suffixes)}[CAST((hr3 // 16) % {nz} AS BIGINT) + 1]"
    else:
        zone = "CAST(NULL AS VARCHAR)"

    # row kinds (per 10,000 rows) -----------------------------------------------------------------
    bounds = []
    acc = 0
    for kind, bp in (
        ("Credit", src.credit_bp),
        ("Tax", src.tax_bp),
        ("Purchase", src.purchase_bp if purchase_idx else 0),
        ("Adjustment", src.adjustment_bp),
    ):
        if bp:
            acc += bp
            bounds.append(f"WHEN u_kind < {acc} THEN '{kind}'")
    kind_expr = "CASE " + " ".join(bounds) + " ELSE 'Usage' END" if bounds else "'Usage'"
    product_expr = f"{_int_list(lut)}[CAST(hr1 % 1000 AS BIGINT) + 1]"
    if purchase_idx:
        product_expr = f"CASE WHEN kind = 'Purchase' THEN {purchase_idx} ELSE {product_expr} END"
    flag_threshold = round(min(max(flagged_share, 0.0), 1.0) * 1_000_000)

    # charge periods ------------------------------------------------------------------------------
    ms = f"[{', '.join(m_start)}][mi]"
    me = f"[{', '.join(m_end)}][mi]"
    hours = f"{_int_list(m_hours)}[mi]"
    days = f"{_int_list(m_days)}[mi]"
    if src.period == "hour":
        cps = f"ms + to_hours(CAST(h_time % {hours} AS BIGINT))"
        cpe = "cps_u + INTERVAL 1 HOUR"
    elif src.period == "day":
        cps = f"ms + to_days(CAST(h_time % {days} AS BIGINT))"
        cpe = "cps_u + INTERVAL 1 DAY"
    elif src.period == "job":
        cps = f"ms + to_hours(CAST(h_time % {hours} AS BIGINT))"
        cpe = "least(cps_u + to_hours(CAST(1 + (h_time // 4096) % 72 AS BIGINT)), me)"
    else:
        cps, cpe = "ms", "me"

    # quantities and money (integers: quantity 1e-6 units, money 1e-10 USD) -----------------------
    if src.period == "job":
        q_usage = (
            f"{counts}[p][CAST(h_qty % len({counts}[p]) AS BIGINT) + 1]"
            f" * date_diff('hour', cps_u, cpe_u) * {_QSCALE}"
        )
    else:
        # product of two uniform draws: many small quantities, a long tail of big ones
        qn_p = f"{_int_list(qn)}[p]"
        q_usage = (
            f"{_int_list(qmin)}[p]"
            f" + CAST((h_qty % {qn_p}) * ((h_qty // 1000003) % {qn_p}) // {qn_p} AS BIGINT)"
            f" * {_int_list(qstep)}[p]"
        )
    spot_flags = [p.spot for p in products]
    if src.spot_pct and any(spot_flags):
        spot_expr = (
            f"(kind = 'Usage' AND [{', '.join('true' if s else 'false' for s in spot_flags)}][p]"
            f" AND h_misc % 100 < {src.spot_pct}{' AND fl <> 7' if src.marketplace else ''})"
        )
    else:
        spot_expr = "false"
    billed_cases = [f"WHEN is_spot THEN {src.spot_ppm}"] + [
        f"WHEN h_misc % 100 < {pct} THEN {ppm}" for pct, ppm in src.subsidy
    ]
    billed_ppm = "CASE " + " ".join(billed_cases) + " ELSE 1000000 END"
    free = _int_list([p.free_units * _QSCALE for p in products])
    cents = 10**8

    def rc(expr: str) -> str:
        """Round a non-negative money integer to whole cents (half up) when the source bills in cents."""
        return f"(({expr} + {cents // 2}) // {cents}) * {cents}" if src.cents else f"({expr})"

    # non-usage amounts scale with the typical usage row of the source, so that taxes are a few
    # percent of the spend and credits/fees stay plausible whatever the row granularity
    scale = src.typical_row_cents
    credit_amt = rc(f"{cents} + CAST(h_amt % {scale * 12 * cents} AS BIGINT)")
    tax_amt = f"({max(scale // 10, 1)} + CAST(h_amt % {scale * 12} AS BIGINT)) * {cents}"
    adj_amt = (
        f"({max(scale // 10, 1)} + CAST(h_amt % {scale * 10} AS BIGINT)) * {cents}"
        " * (CASE WHEN h_misc % 3 = 0 THEN -1 ELSE 1 END)"
    )
    fee = f"({scale * 5} + CAST(h_amt % {scale * 30} AS BIGINT)) * {cents}"
    credit_desc = _str_list(src.credit_descriptions)
    ncd = len(src.credit_descriptions)

    # tags ----------------------------------------------------------------------------------------
    def frag(key: str, value_sql: str) -> str:
        return f"'\"{key}\":\"' || {value_sql} || '\"'"

    noise = [f"CASE WHEN (hr4 // 7) % 5 = 0 THEN {_s(n)} END" for n in src.noise_tags]
    noise = [
        f"replace({n}, '{{proj}}', proj)" if "{proj}" in t else n
        for n, t in zip(noise, src.noise_tags, strict=True)
    ]
    tag_parts = [
        frag("env", f"{_str_list(_ENVS)}[CAST(hr4 % 4 AS BIGINT) + 1]"),
        f"CASE WHEN fl <> 0 THEN {frag('pi_email', 'pi')} END",
        f"CASE WHEN fl <> 1 THEN {frag('project_id', 'proj')} END",
        f"CASE WHEN fl <> 2 THEN {frag('fund_org', 'fund_tag')} END",
        frag("cost_center", "cc"),
        f"CASE WHEN (h_misc // 10000) % 100 < 10 THEN {frag('account_code', 'acode')} END",
        f"CASE WHEN grant_no IS NOT NULL THEN {frag('grant_number', 'grant_no')} END",
        f"CASE WHEN (hr4 // 4) % 100 < 25 THEN {frag('request_id', 'req')} END",
        f"CASE WHEN (hr4 // 400) % 2 = 0 THEN {frag('owner', 'piuser')} END",
        f"CASE WHEN kind = 'Usage' THEN {_template(arr['tagx'], tagx_t)} END",
        *noise,
    ]
    tags_json = (
        "CASE WHEN kind IN ('Tax', 'Purchase') OR fl = 4 THEN NULL WHEN fl = 5 THEN '{}' "
        f"ELSE '{{' || concat_ws(',', {', '.join(tag_parts)}) || '}}' END"
    )
    fund_tag = (
        "CASE WHEN fl = 3 THEN (CASE fv WHEN 0 THEN lower(orgn) || '_' || fund_digits "
        "WHEN 1 THEN orgn || '-' || left(fund_digits, 2) "
        "WHEN 2 THEN ' ' || orgn || '-' || fund_digits || ' ' "
        "ELSE orgn || fund_digits END) ELSE orgn || '-' || fund_digits END"
    )

    mkt = "Acme Bioinformatics LLC"
    is_mkt = "(kind = 'Usage' AND fl = 7)" if src.marketplace else "false"
    is_sus = "(kind = 'Usage' AND fl IN (6, 7))" if not src.marketplace else "(kind = 'Usage' AND fl = 6)"

    x_exprs = []
    if extra_columns:
        for k, name in enumerate(src.x_columns):
            templates = [p.x[k] if k < len(p.x) else None for p in products]
            templates = [t or None for t in templates]
            x_exprs.append((name, _template(_str_list(templates), templates)))

    # ---------------------------------------------------------------------------------------------
    sql = f"""
WITH b AS (
    SELECT i,
        CAST((i * {nm}) // {max(rows, 1)} AS BIGINT) + 1 AS mi,
        hash(i, {seed}, 1) AS h_res,
        hash(i, {seed}, 2) % 10000 AS u_kind,
        hash(i, {seed}, 3) AS h_time,
        hash(i, {seed}, 4) AS h_qty,
        hash(i, {seed}, 5) % 1000000 AS u_flag,
        hash(i, {seed}, 6) AS h_flag,
        hash(i, {seed}, 7) AS h_misc,
        hash(i, {seed}, 8) AS h_amt
    FROM range({start}, {stop}) t(i)
), c AS (
    SELECT *, {r_expr} AS r FROM b
), d AS (
    SELECT *,
        hash(r, {seed}, 11) AS hr1, hash(r, {seed}, 12) AS hr2, hash(r, {seed}, 13) AS hr3,
        hash(r, {seed}, 14) AS hr4, hash(r, {seed}, 15) AS hr5, hash(r, {seed}, 16) AS hr6,
        {kind_expr} AS kind
    FROM c
), e AS (
    SELECT *,
        {product_expr} AS p,
        CAST(hr2 % {nproj} AS BIGINT) + 1 AS j,
        CASE WHEN kind IN ('Tax', 'Purchase') OR u_flag >= {flag_threshold} THEN -1
             ELSE CAST(h_flag % 8 AS INTEGER) END AS fl,
        CAST((h_flag // 8) % 4 AS INTEGER) AS fv,
        {ms} AS ms, {me} AS me
    FROM d
), f AS (
    SELECT *,
        {parr["proj"]}[j] AS proj, {parr["orgn"]}[j] AS orgn, {parr["pi"]}[j] AS pi,
        {parr["piuser"]}[j] AS piuser, {parr["cc"]}[j] AS cc, {parr["grant"]}[j] AS grant_no,
        {parr["req"]}[j] AS req, {parr["acode"]}[j] AS acode,
        {parr["subid"]}[j] AS sub_id, {parr["subname"]}[j] AS sub_name,
        CASE WHEN {parr["fund2"]}[j] IS NOT NULL AND (h_misc // 100) % 100 < 35 THEN {parr["fund2"]}[j]
             ELSE {parr["fund1"]}[j] END AS fund_digits,
        {region_id} AS region_id, {region_name} AS region_name,
        printf('%016x', hr5) AS hex16,
        {_str_list(_JOB_NAMES)}[CAST(hr6 % {len(_JOB_NAMES)} AS BIGINT) + 1]
            || '_' || lpad(CAST((hr6 // 16) % 1000 AS VARCHAR), 3, '0') AS jobname,
        {_str_list(_SUBDIRS)}[CAST((hr6 // 16) % {len(_SUBDIRS)} AS BIGINT) + 1] AS subdir,
        {cps} AS cps_u,
        {spot_expr} AS is_spot
    FROM e
), g AS (
    SELECT *,
        {zone} AS zone,
        {cpe} AS cpe_u,
        {fund_tag} AS fund_tag
    FROM f
), h AS (
    SELECT *,
        CASE WHEN kind = 'Usage' THEN {q_usage} WHEN kind = 'Purchase' THEN {_QSCALE} END AS q,
        CASE WHEN kind = 'Purchase' THEN {fee} ELSE {_int_list(lp)}[p] END AS lup,
        {billed_ppm} AS billed_ppm
    FROM g
), k AS (
    SELECT *,
        CASE WHEN kind = 'Purchase' THEN lup ELSE {_int_list(cp)}[p] END AS cup
    FROM h
), m AS (
    SELECT *,
        CAST((CAST(q AS HUGEINT) * lup) // {_QSCALE} AS BIGINT) AS list_raw,
        CAST((CAST(q AS HUGEINT) * cup) // {_QSCALE} AS BIGINT) AS contracted_raw,
        CAST((CAST(greatest(q - {free}[p], 0) AS HUGEINT) * cup) // {_QSCALE} * billed_ppm // 1000000
             AS BIGINT) AS billed_raw
    FROM k
), n AS (
    SELECT *,
        CASE kind
            WHEN 'Usage' THEN {rc("billed_raw")}
            WHEN 'Purchase' THEN list_raw
            WHEN 'Credit' THEN -{credit_amt}
            WHEN 'Tax' THEN {tax_amt}
            ELSE {adj_amt} END AS billed,
        CASE kind
            WHEN 'Usage' THEN {rc("list_raw")}
            WHEN 'Purchase' THEN list_raw
            WHEN 'Credit' THEN (CASE WHEN h_misc % 2 = 0 THEN 0 ELSE -{credit_amt} END)
            WHEN 'Tax' THEN {tax_amt}
            ELSE {adj_amt} END AS list_cost,
        CASE kind
            WHEN 'Usage' THEN {rc("contracted_raw")}
            WHEN 'Purchase' THEN contracted_raw
            WHEN 'Credit' THEN (CASE WHEN h_misc % 2 = 0 THEN 0 ELSE -{credit_amt} END)
            WHEN 'Tax' THEN {tax_amt}
            ELSE {adj_amt} END AS contracted_cost,
        CASE WHEN kind IN ('Usage', 'Purchase') THEN cps_u ELSE ms END AS cps,
        CASE WHEN kind IN ('Usage', 'Purchase') THEN cpe_u ELSE me END AS cpe,
        {is_mkt} AS is_mkt,
        {is_sus} AS is_sus,
        {_template(arr["rname"], rname_t)} AS rname
    FROM m
)
SELECT {{columns}}
FROM n
"""
    # final column expressions --------------------------------------------------------------------
    usage = "kind = 'Usage'"
    priced = "kind IN ('Usage', 'Purchase')"
    provider = _s(src.provider)
    cols: dict[str, str] = {
        "AvailabilityZone": (
            f"CASE WHEN {usage} AND NOT is_mkt AND {_bool_list([p.zonal for p in products])}[p] THEN zone END"
        ),
        "BilledCost": "billed",
        "BillingAccountId": _s(src.billing_account_id),
        "BillingAccountName": _s(src.billing_account_name),
        "BillingAccountType": _s(src.billing_account_type),
        "BillingCurrency": "'USD'",
        "BillingPeriodEnd": "me",
        "BillingPeriodStart": "ms",
        "CapacityReservationId": "NULL",
        "CapacityReservationStatus": "NULL",
        "ChargeCategory": "kind",
        "ChargeClass": "NULL",
        "ChargeDescription": (
            "CASE WHEN is_mkt THEN 'Acme Genomics Pipeline - SaaS usage' "
            f"WHEN {priced} THEN {arr['desc']}[p] "
            f"WHEN kind = 'Tax' THEN 'Sales tax on ' || {arr['svc']}[p] "
            f"WHEN kind = 'Credit' THEN {credit_desc}[CAST(h_misc % {ncd} AS BIGINT) + 1] "
            "ELSE 'Billing adjustment: rate correction' END"
        ),
        "ChargeFrequency": (
            "CASE kind WHEN 'Usage' THEN 'Usage-Based' WHEN 'Purchase' THEN 'Recurring' ELSE 'One-Time' END"
        ),
        "ChargePeriodEnd": "cpe",
        "ChargePeriodStart": "cps",
        "CommitmentDiscountCategory": "NULL",
        "CommitmentDiscountId": "NULL",
        "CommitmentDiscountName": "NULL",
        "CommitmentDiscountQuantity": "NULL",
        "CommitmentDiscountStatus": "NULL",
        "CommitmentDiscountType": "NULL",
        "CommitmentDiscountUnit": "NULL",
        "ConsumedQuantity": f"CASE WHEN {usage} THEN q END",
        "ConsumedUnit": f"CASE WHEN {usage} THEN {arr['unit']}[p] END",
        "ContractedCost": "contracted_cost",
        "ContractedUnitPrice": f"CASE WHEN {priced} THEN cup END",
        "EffectiveCost": "billed",
        "InvoiceId": f"{_str_list(m_inv)}[mi]",
        "InvoiceIssuerName": _s(src.invoice_issuer),
        "ListCost": "list_cost",
        "ListUnitPrice": f"CASE WHEN {priced} THEN lup END",
        "PricingCategory": f"CASE WHEN is_spot THEN 'Dynamic' WHEN {priced} THEN 'Standard' END",
        "PricingCurrency": "'USD'",
        "PricingCurrencyContractedUnitPrice": f"CASE WHEN {priced} THEN cup END",
        "PricingCurrencyEffectiveCost": "billed",
        "PricingCurrencyListUnitPrice": f"CASE WHEN {priced} THEN lup END",
        "PricingQuantity": f"CASE WHEN {priced} THEN q END",
        "PricingUnit": f"CASE WHEN {priced} THEN {arr['unit']}[p] END",
        "ProviderName": provider,
        "PublisherName": f"CASE WHEN is_mkt THEN {_s(mkt)} ELSE {provider} END",
        "RegionId": f"CASE WHEN {usage} AND NOT is_mkt THEN region_id END",
        "RegionName": f"CASE WHEN {usage} AND NOT is_mkt THEN region_name END",
        "ResourceId": f"CASE WHEN {usage} AND NOT is_mkt THEN {_template(arr['rid'], rid_t)} END",
        "ResourceName": (
            f"CASE WHEN NOT {usage} OR is_mkt THEN NULL "
            "WHEN is_sus THEN (CASE WHEN fv % 2 = 0 THEN 'test-' ELSE 'PROD-' END) || rname ELSE rname END"
        ),
        "ResourceType": f"CASE WHEN {usage} AND NOT is_mkt THEN {arr['rtype']}[p] END",
        "ServiceCategory": f"CASE WHEN is_mkt THEN 'Other' ELSE {arr['cat']}[p] END",
        "ServiceName": f"CASE WHEN is_mkt THEN 'AWS Marketplace' ELSE {arr['svc']}[p] END",
        "ServiceSubcategory": f"CASE WHEN is_mkt THEN 'Other (Other)' ELSE {arr['subcat']}[p] END",
        "SkuId": f"CASE WHEN is_mkt THEN 'prod-' || left(hex16, 12) WHEN {priced} THEN {arr['sku']}[p] END",
        "SkuMeter": f"CASE WHEN {priced} AND NOT is_mkt THEN {arr['meter']}[p] END",
        "SkuPriceDetails": f"CASE WHEN {priced} AND NOT is_mkt THEN {arr['details']}[p] END",
        "SkuPriceId": f"CASE WHEN {priced} AND NOT is_mkt THEN {arr['skuprice']}[p] END",
        "SubAccountId": "CASE WHEN kind = 'Purchase' THEN NULL ELSE sub_id END",
        "SubAccountName": "CASE WHEN kind = 'Purchase' THEN NULL ELSE sub_name END",
        "SubAccountType": f"CASE WHEN kind = 'Purchase' THEN NULL ELSE {_s(src.sub_account_type)} END",
        "Tags": tags_json,
        "AllocatedMethodDetails": "NULL",
        "AllocatedMethodId": "NULL",
        "AllocatedResourceId": "NULL",
        "AllocatedResourceName": "NULL",
        "AllocatedTags": "NULL",
        "ContractApplied": "NULL",
        "ServiceProviderName": f"CASE WHEN is_mkt THEN {_s(mkt)} ELSE {provider} END",
        "HostProviderName": provider,
    }

    select: list[str] = []
    for name in focus_columns(version):
        select.append(f"{_render(name, cols[name], parquet)} AS {name}")
    for name, expr in x_exprs:
        select.append(f"CAST({expr} AS VARCHAR) AS {name}")
    return sql.replace("{columns}", ",\n    ".join(select))


def _bool_list(values: Sequence[bool]) -> str:
    return "[" + ", ".join("true" if v else "false" for v in values) + "]"


def _render(name: str, expr: str, parquet: bool) -> str:
    """Wrap an internal value so it is written in the target format's representation."""
    if name in _MONEY_COLUMNS:
        dec = f"(CAST({expr} AS DECIMAL(18, 0)) * CAST(0.0000000001 AS DECIMAL(18, 10)))"
        return f"CAST({dec} AS DECIMAL(38, 10))" if parquet else f"ocb_trim({dec})"
    if name in _QUANTITY_COLUMNS:
        dec = f"(CAST({expr} AS DECIMAL(18, 0)) * CAST(0.000001 AS DECIMAL(18, 6)))"
        return f"CAST({dec} AS DECIMAL(38, 10))" if parquet else f"ocb_trim({dec})"
    if name in _TIME_COLUMNS:
        if parquet:
            return f"timezone('UTC', {expr})"
        return f"strftime({expr}, '%Y-%m-%dT%H:%M:%SZ')"
    if name == "Tags" and parquet:
        return f"CAST(CAST({expr} AS JSON) AS MAP(VARCHAR, VARCHAR))"
    return f"CAST({expr} AS VARCHAR)"


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _infer_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv.gz"):
        return "csv.gz"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(f"cannot infer the format of {path}; pass fmt= one of {FORMATS}")


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute("CREATE MACRO ocb_trim(d) AS rtrim(rtrim(CAST(d AS VARCHAR), '0'), '.')")
    return con


def generate_focus_file(
    path: str | Path,
    *,
    source: str,
    months: list[str],
    rows: int,
    version: str = "1.2",
    fmt: str | None = None,
    seed: int = 0,
    flagged_share: float = 0.08,
    extra_columns: bool = True,
) -> Path:
    """Write a fictional FOCUS export of ``rows`` rows for ``source`` spread over ``months``.

    The header is ``focus_columns(version)`` followed (if ``extra_columns``) by ``x_columns(source)``.
    About ``flagged_share`` of the rows carry problems that need human review (missing or malformed
    chargeback tags, empty Tags, suspicious resource names, AWS Marketplace charges).
    """
    out = Path(path)
    src = _source(source)
    if version not in FOCUS_VERSIONS:
        raise ValueError(f"unknown FOCUS version {version!r}; expected one of {FOCUS_VERSIONS}")
    fmt = fmt or _infer_format(out)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if not months:
        raise ValueError("months must not be empty")
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if not 0.0 <= flagged_share <= 1.0:
        raise ValueError("flagged_share must be between 0 and 1")
    build = functools.partial(
        _build_query, src, source, months, rows, version, fmt, int(seed), flagged_share, extra_columns
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet" or rows <= _CHUNK_ROWS:
        _copy(build(0, rows), out, fmt, header=True)
        return out
    # Big CSV: DuckDB writes one COPY on one thread, so fixed-size chunks are written in parallel
    # (one connection per thread) and concatenated in order. The chunking depends only on ``rows``,
    # so the bytes do not depend on the CPU count (csv.gz becomes a multi-member gzip file).
    bounds = [(a, min(a + _CHUNK_ROWS, rows)) for a in range(0, rows, _CHUNK_ROWS)]
    parts = [out.with_name(f".{out.name}.part{k:05d}") for k in range(len(bounds))]
    workers = max(1, min(os.cpu_count() or 1, _MAX_WORKERS, len(bounds)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool, out.open("wb") as sink:
            futures = [
                pool.submit(_copy, build(a, b), part, fmt, header=k == 0)
                for k, ((a, b), part) in enumerate(zip(bounds, parts, strict=True))
            ]
            for future, part in zip(futures, parts, strict=True):
                future.result()
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, sink, 1 << 20)
                part.unlink()
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return out


def _copy(query: str, target: Path, fmt: str, *, header: bool) -> None:
    """Run one ``COPY (query) TO target`` on a fresh connection."""
    if fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    else:
        compression = "gzip" if fmt == "csv.gz" else "none"
        options = (
            f"FORMAT csv, HEADER {str(header).lower()}, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
            f"COMPRESSION {compression}"
        )
    path = str(target).replace("'", "''")
    con = _connect()
    try:
        con.execute(f"COPY ({query}) TO '{path}' ({options})")
    finally:
        con.close()


_SAMPLE_SET: tuple[tuple[str, str, str, int, str], ...] = (
    # (file name, source, month, rows, version)
    ("aws_2025-01.csv", "aws", "2025-01", 300, "1.2"),
    ("azure_2025-01.csv.gz", "azure", "2025-01", 200, "1.0"),
    ("gcp_2025-01.parquet", "gcp", "2025-01", 150, "1.3"),
    ("hpc_2025-01.csv", "hpc", "2025-01", 150, "1.1"),
    ("storage_2025-01.csv", "storage", "2025-01", 60, "1.0"),
    ("aws_2025-02.csv", "aws", "2025-02", 100, "1.2"),
)


def generate_sample_set(out_dir: str | Path, *, seed: int = 0) -> list[Path]:
    """Write the small committed demo set (six files, all well under 1 MB) and return their paths."""
    out = Path(out_dir)
    paths = []
    for k, (name, source, month, rows, version) in enumerate(_SAMPLE_SET):
        paths.append(
            generate_focus_file(
                out / name, source=source, months=[month], rows=rows, version=version, seed=seed * 100 + k
            )
        )
    return paths


def _extension(fmt: str) -> str:
    return {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}[fmt]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints the written path(s)."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.sample_data.generator",
        description="Generate fictional FinOps FOCUS billing exports.",
    )
    parser.add_argument("--out", type=Path, help="output directory for a single file")
    parser.add_argument("--source", choices=SOURCES, default="aws")
    parser.add_argument("--months", default="2025-01", help="comma separated YYYY-MM list")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--version", choices=FOCUS_VERSIONS, default="1.2")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flagged-share", type=float, default=0.08)
    parser.add_argument("--no-extra-columns", action="store_true", help="omit the provider x_ columns")
    parser.add_argument("--sample-set", type=Path, metavar="DIR", help="write the demo sample set to DIR")
    args = parser.parse_args(argv)

    if args.sample_set is None and args.out is None:
        parser.error("one of --out or --sample-set is required")
    try:
        if args.sample_set is not None:
            for path in generate_sample_set(args.sample_set, seed=args.seed):
                print(path)
        if args.out is not None:
            months = [m.strip() for m in args.months.split(",") if m.strip()]
            if not months:
                parser.error("--months must list at least one YYYY-MM")
            path = args.out / f"{args.source}_{months[0]}.{_extension(args.fmt)}"
            generate_focus_file(
                path,
                source=args.source,
                months=months,
                rows=args.rows,
                version=args.version,
                fmt=args.fmt,
                seed=args.seed,
                flagged_share=args.flagged_share,
                extra_columns=not args.no_extra_columns,
            )
            print(path)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
