"""FOCUS 1.4 test files written as text: cost-and-usage files in the shapes of the four big providers, and
InvoiceDetail files. 1.4 drops ProviderName and PublisherName (ServiceProviderName and HostProviderName stand for
them) and adds InvoiceDetailId, BillingPeriodStatus, TagDetails and CommitmentProgramEligibilityDetails. Each shape
carries its provider's typical ids and custom columns (AWS and Azure `x_`, GCP `x_`, OCI `oci_`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ocb_pipelines.core.focus_columns import FOCUS_1_4_ADDED, FOCUS_1_4_REMOVED, FOCUS_COLUMNS_1_3

COST_COLUMNS_1_4 = [c for c in FOCUS_COLUMNS_1_3 if c not in FOCUS_1_4_REMOVED] + list(FOCUS_1_4_ADDED)
TAGS = {"pi_email": "pi.one@example.edu", "project_id": "proj-a", "fund_org": "ABC-123456"}

# Per provider: the columns every row shares, its custom columns, and how a row's own values are made.
SHAPES: dict[str, dict] = {
    "aws": {
        "common": {"ServiceProviderName": "AWS", "HostProviderName": "AWS", "InvoiceIssuerName": "AWS",
                   "BillingAccountId": "111122223333", "BillingAccountName": "Example University",
                   "BillingAccountType": "Billing Account", "SubAccountId": "444455556666",
                   "SubAccountName": "astro-lab", "SubAccountType": "Linked Account", "ServiceName": "Amazon EC2",
                   "ServiceCategory": "Compute", "RegionId": "us-east-1", "RegionName": "US East (N. Virginia)",
                   "PricingUnit": "Hours", "SkuId": "JRTCKXETXF"},
        "extra": {"x_UsageType": "BoxUsage:m5.large", "x_Operation": "RunInstances", "x_ServiceCode": "AmazonEC2"},
        "resource": "arn:aws:ec2:us-east-1:444455556666:instance/i-0abc{n}",
        "invoice": "EUINUS26-100001",
    },
    "azure": {
        "common": {"ServiceProviderName": "Microsoft", "HostProviderName": "Microsoft",
                   "InvoiceIssuerName": "Microsoft", "BillingAccountId": "/providers/Microsoft.Billing/"
                   "billingAccounts/12345678:abcd_2019-05-31", "BillingAccountName": "Example University",
                   "BillingAccountType": "Billing Profile", "SubAccountId": "/subscriptions/"
                   "00000000-1111-2222-3333-444444444444", "SubAccountName": "research-sub",
                   "SubAccountType": "Subscription", "ServiceName": "Virtual Machines", "ServiceCategory": "Compute",
                   "RegionId": "eastus", "RegionName": "East US", "PricingUnit": "1 Hour"},
        "extra": {"x_BillingProfileId": "ABCD-EFGH-IJK-LMN", "x_ResourceGroupName": "rg-astro",
                  "x_SkuMeterCategory": "Virtual Machines"},
        "resource": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-astro/providers/"
                    "Microsoft.Compute/virtualMachines/vm{n}",
        "invoice": "G012345678",
    },
    "gcp": {
        "common": {"ServiceProviderName": "Google Cloud", "HostProviderName": "Google Cloud",
                   "InvoiceIssuerName": "Google Cloud", "BillingAccountId": "01A2B3-C4D5E6-F7G8H9",
                   "BillingAccountName": "Example University", "SubAccountId": "astro-survey-123",
                   "SubAccountName": "astro-survey", "ServiceName": "Compute Engine", "ServiceCategory": "Compute",
                   "RegionId": "us-central1", "RegionName": "Iowa", "PricingUnit": "hour"},
        "extra": {"x_ProjectNumber": "123456789012", "x_ExportTime": "2026-06-02T03:00:00Z"},
        "resource": "//compute.googleapis.com/projects/astro-survey-123/zones/us-central1-a/instances/{n}",
        "invoice": "5000123456",
    },
    "oci": {
        "common": {"ServiceProviderName": "Oracle", "HostProviderName": "Oracle", "InvoiceIssuerName": "Oracle",
                   "BillingAccountId": "ocid1.tenancy.oc1..aaaaaaaexample", "BillingAccountName": "exampleuniv",
                   "SubAccountId": "ocid1.compartment.oc1..aaaaaaaastro", "SubAccountName": "astro",
                   "ServiceName": "COMPUTE", "ServiceCategory": "Compute", "RegionId": "us-ashburn-1",
                   "RegionName": "us-ashburn-1", "PricingUnit": "OCPU Hours"},
        "extra": {"oci_ReferenceNumber": "ref-{n}", "oci_CompartmentId": "ocid1.compartment.oc1..aaaaaaaastro",
                  "oci_CompartmentName": "astro", "oci_BackReferenceNumber": ""},
        "resource": "ocid1.instance.oc1.iad.instance{n}",
        "invoice": "OCI-77001",
    },
}


def cost_row(shape: str, n: int, billed: str, month: str = "2026-05", status: str = "Closed",
             invoice: str | None = None) -> dict[str, str]:
    """Row `n` of a provider's 1.4 file: its common columns, a resource of its own and its custom columns."""
    spec = SHAPES[shape]
    year, mon = (int(p) for p in month.split("-"))
    nxt = f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}"
    row = {
        **spec["common"], "BilledCost": billed, "EffectiveCost": billed, "ListCost": billed, "ContractedCost": billed,
        "BillingCurrency": "USD", "BillingPeriodStart": f"{month}-01T00:00:00Z",
        "BillingPeriodEnd": f"{nxt}-01T00:00:00Z", "ChargePeriodStart": f"{month}-{n + 1:02d}T00:00:00Z",
        "ChargePeriodEnd": f"{month}-{n + 1:02d}T01:00:00Z", "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based", "ChargeDescription": f"{shape} compute {n}", "PricingCategory": "Standard",
        "PricingQuantity": "1", "ResourceId": spec["resource"].format(n=n), "ResourceName": f"node-{n}",
        "Tags": json.dumps(TAGS), "InvoiceId": invoice or spec["invoice"], "InvoiceDetailId": f"{shape}-line-{n}",
        "BillingPeriodStatus": status,
    }
    row.update({k: v.format(n=n) for k, v in spec["extra"].items()})
    return row


def write_cost_file(path: Path, shape: str, rows: list[dict[str, str]]) -> Path:
    """A 1.4 cost-and-usage CSV: the 1.4 columns, then the shape's custom columns."""
    columns = COST_COLUMNS_1_4 + list(SHAPES[shape]["extra"])
    return _write(path, columns, rows)


INVOICE_COLUMNS = ["InvoiceId", "InvoiceDetailId", "InvoiceIssuerName", "BillingAccountId", "BillingCurrency",
                   "BillingPeriodStart", "BillingPeriodEnd", "ChargeCategory", "BilledCost", "InvoiceDetailCreated",
                   "InvoiceDetailDescription", "InvoiceDetailLastUpdated", "InvoiceIssueDate", "InvoiceIssueStatus",
                   "PaymentCurrency", "PaymentCurrencyBilledCost", "PaymentDueDate", "PaymentTerms",
                   "ReferenceInvoiceId"]


def invoice_line(shape: str, n: int, billed: str, month: str = "2026-05", invoice: str | None = None
                 ) -> dict[str, str]:
    """Line `n` of an InvoiceDetail file for the shape's invoice of the month."""
    spec = SHAPES[shape]
    year, mon = (int(p) for p in month.split("-"))
    nxt = f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}"
    return {
        "InvoiceId": invoice or spec["invoice"], "InvoiceDetailId": f"{shape}-inv-{n}",
        "InvoiceIssuerName": spec["common"]["InvoiceIssuerName"],
        "BillingAccountId": spec["common"]["BillingAccountId"],
        "BillingCurrency": "USD", "BillingPeriodStart": f"{month}-01T00:00:00Z",
        "BillingPeriodEnd": f"{nxt}-01T00:00:00Z", "ChargeCategory": "Usage", "BilledCost": billed,
        "InvoiceDetailCreated": f"{nxt}-02T00:00:00Z", "InvoiceDetailDescription": f"line {n}",
        "InvoiceDetailLastUpdated": f"{nxt}-02T00:00:00Z", "InvoiceIssueDate": f"{nxt}-02T00:00:00Z",
        "InvoiceIssueStatus": "Issued", "PaymentCurrency": "USD", "PaymentCurrencyBilledCost": billed,
        "PaymentDueDate": f"{nxt}-28T00:00:00Z", "PaymentTerms": "Net 30", "ReferenceInvoiceId": "",
    }


def write_invoice_file(path: Path, lines: list[dict[str, str]]) -> Path:
    return _write(path, INVOICE_COLUMNS, lines)


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path
