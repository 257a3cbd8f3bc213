"""The public-cloud catalogues: AWS, Azure and GCP (fictional accounts, real-looking SKUs and prices)."""

from __future__ import annotations

import uuid

from tools.sample_data.products import _AWS_EC2, _AZ_RG, _GCP_VM, _Product, _Source


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
