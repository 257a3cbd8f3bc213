import pytest

from ocb_pipelines.ingest.focus import (
    FOCUS_COLUMNS,
    NotFocusError,
    canonical_header,
    detect_version,
    file_format,
    period_from_filename,
    source_from_filename,
)
from ocb_pipelines_tests.conftest import VERSION_COLUMNS


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3"])
def test_version_detected_from_header(version):
    assert len(VERSION_COLUMNS[version]) == {"1.0": 43, "1.1": 50, "1.2": 57, "1.3": 65}[version]
    assert canonical_header(VERSION_COLUMNS[version]).version == version


def test_header_matched_case_insensitively_and_extras_kept():
    mapping = canonical_header([c.lower() for c in VERSION_COLUMNS["1.0"]] + ["x_ServiceCode", "Id"])
    assert mapping.focus["BilledCost"] == "billedcost"
    assert mapping.extra == {"x_ServiceCode": "x_ServiceCode", "Id": "Id"}


def test_duplicate_column_refused():
    with pytest.raises(NotFocusError, match="appears twice"):
        canonical_header(VERSION_COLUMNS["1.0"] + ["billedcost"])


def test_legacy_cur_and_azure_ea_refused_by_name():
    cur = ["identity/LineItemId", "bill/BillingPeriodStartDate", "lineItem/UsageAccountId", "lineItem/UnblendedCost"]
    with pytest.raises(NotFocusError, match="AWS Cost and Usage Report"):
        canonical_header(cur)
    ea = ["SubscriptionGuid", "MeterCategory", "MeterId", "CostInBillingCurrency", "InstanceId", "Date"]
    with pytest.raises(NotFocusError, match="Azure EA"):
        canonical_header(ea)
    with pytest.raises(NotFocusError, match="not a FOCUS export"):
        canonical_header(["name", "amount", "date"])


def test_missing_required_column_named():
    columns = [c for c in VERSION_COLUMNS["1.0"] if c != "BilledCost"]
    with pytest.raises(NotFocusError, match="required FOCUS columns missing: BilledCost"):
        canonical_header(columns)


def test_detect_version_and_formats():
    assert detect_version(FOCUS_COLUMNS) == "1.4"  # the 1.4 columns are among them
    assert detect_version(VERSION_COLUMNS["1.3"]) == "1.3"
    assert file_format("a.CSV") == "csv" and file_format("a.csv.gz") == "csv.gz"
    assert file_format("x.snappy.parquet") == "parquet"
    with pytest.raises(ValueError, match="unsupported"):
        file_format("a.xlsx")


@pytest.mark.parametrize(
    ("name", "period"),
    [("aws_2025-01.csv", "2025-01"), ("azure_2025_02.csv.gz", "2025-02"), ("hpc-202503.parquet", "2025-03"),
     ("storage.csv", None), ("aws_2025-13.csv", None)],
)
def test_period_from_filename(name, period):
    assert period_from_filename(name) == period


def test_source_from_filename_longest_pattern_wins():
    patterns = [("storage", "storage"), ("archive", "archive-storage"), ("aws", "aws")]
    assert source_from_filename("Archive-Storage_2025-01.csv", patterns) == "archive"
    assert source_from_filename("AWS_2025-01.csv", patterns) == "aws"
    assert source_from_filename("unknown.csv", patterns) is None


def test_focus_datasets_without_charges_are_refused_saying_what_they_are():
    """focus-data-toolkit 0.14.1's headers of FOCUS 1.4's BillingPeriod and 1.3's ContractCommitment datasets."""
    billing_period = ["BillingPeriodCreated", "BillingPeriodEnd", "BillingPeriodLastUpdated", "BillingPeriodStart",
                      "BillingPeriodStatus", "InvoiceIssuerName"]
    with pytest.raises(NotFocusError, match=r"FOCUS 1\.4.s BillingPeriod dataset .* holds no charges"):
        canonical_header(billing_period)
    commitments = ["ContractCommitmentId", "ContractCommitmentType", "ContractCommitmentCategory",
                   "ContractCommitmentCost", "ContractCommitmentQuantity", "ContractCommitmentUnit",
                   "ContractCommitmentDescription", "ContractCommitmentPeriodStart", "ContractCommitmentPeriodEnd",
                   "ContractId", "ContractPeriodStart", "ContractPeriodEnd", "BillingCurrency"]
    with pytest.raises(NotFocusError, match=r"FOCUS 1\.3.s ContractCommitment dataset"):
        canonical_header(commitments)
    # a cost-and-usage file with BillingPeriodStatus (FOCUS 1.4) is still one
    assert canonical_header([*VERSION_COLUMNS["1.2"], "BillingPeriodStatus"]).version == "1.4"
