"""The on-premises catalogues: the HPC cluster and research storage, billed like a cloud provider."""

from __future__ import annotations

from tools.sample_data.products import _Product, _Source

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
