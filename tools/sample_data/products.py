"""What a source catalogue is made of: products (SKUs) and the source's billing habits."""

from __future__ import annotations

from dataclasses import dataclass, field

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
