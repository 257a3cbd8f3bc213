"""Configuration: one YAML file, keys compatible with OpenChargeback's `config.yaml`.

Pure module (no Dagster). `load_config` expands `${ENV}` references, resolves relative paths against
the config file's folder, and refuses a missing or invalid file with a message naming the key:
a billing tool must never run on silent defaults. A key written twice is refused too (YAML would keep
the last value silently: `dev_mode: true` then `dev_mode: false` would mean real email).

OpenChargeback's `config.yaml` loads unchanged: an unset `${VAR}` in a secret it may leave empty
(`smtp.username`, `smtp.password`) or in a block that has no effect here (`web`, `sources`, `logging`)
reads as empty, as OpenChargeback reads it, and fails only when the value is needed
(`OcbSettings.require_env`, at SMTP send time); the keys that have no effect are listed by
`OcbSettings.ignored_keys` for the CLI to report once. Finding and reading the file (path, `${ENV}`, YAML) is
`core.config_file`; its names are importable from here too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ocb_pipelines.core.billing_month import BillingMonth
from ocb_pipelines.core.config_file import (
    CONFIG_ENV_VAR,
    ConfigError,
    expand_env,
    ignored_keys_in,
    read_yaml,
    resolve_config_path,
)
from ocb_pipelines.core.config_file import config_bound_to as config_bound_to
from ocb_pipelines.core.patterns import check as check_pattern
from ocb_pipelines.core.pricing_config import FundingSettings, PricingSettings

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^(sqlite|postgres(ql)?):")  # OpenChargeback's database URLs
# OpenChargeback's `currency:` is a display symbol; these are the symbols whose currency is unambiguous
# (kr, for instance, is SEK, NOK or DKK: such a symbol is refused and the code asked for).
CURRENCY_SYMBOLS = {
    "$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "CHF": "CHF", "A$": "AUD", "C$": "CAD",
    "CA$": "CAD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "R$": "BRL", "₹": "INR", "₩": "KRW", "₪": "ILS",
    "zł": "PLN", "₺": "TRY", "R": "ZAR", "Kč": "CZK", "Fr.": "CHF",
}  # fmt: skip


def known_zone(zone: str) -> str:
    """The zone if IANA knows it, else a ValueError naming it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as UTC or America/Chicago)") from None
    return zone


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CurrencySettings(_Strict):
    code: str = Field("USD", pattern=r"^[A-Z]{3}$")
    symbol: str = "$"


class KnownSource(_Strict):
    # Words of A-Z a-z 0-9 _ . - separated by single spaces (OpenChargeback's "Azure Local"). A name is stored
    # with each row and shown in journals; it never becomes part of a file path.
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$")
    pattern: str = ""
    display_name: str = ""
    fund_org: str = ""
    account_code: str = ""
    strict: bool = False  # refuse files that lack required FOCUS columns instead of filling them (legacy_layout.py)
    timezone: str = "UTC"  # a Slurm cluster's local time zone (IANA): sacct's Start/End are read in it

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return known_zone(zone)

    @model_validator(mode="after")
    def _default_pattern(self) -> KnownSource:
        if not self.pattern:
            object.__setattr__(self, "pattern", self.name)
        return self


class ImportSettings(_Strict):
    inbox_dir: Path = Path("data/inbox")
    known_sources: list[KnownSource] = Field(default_factory=list)
    max_errors_shown: int = Field(20, ge=1, le=1000)
    # The first billing month: earlier months are refused and the Dagster partitions start here. Unset: the
    # earliest month imported (services/calendar.py).
    first_month: str | None = None

    @field_validator("first_month")
    @classmethod
    def _billing_month(cls, value: str | None) -> str | None:
        return None if value is None else BillingMonth.parse(str(value)).key

    @field_validator("known_sources")
    @classmethod
    def _unique_names(cls, sources: list[KnownSource]) -> list[KnownSource]:
        names = [s.name.lower() for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"known_sources names must be unique (case-insensitive); repeated: {dupes}")
        return sources


class TagMapping(_Strict):
    pi_email: str = "pi_email"
    project_id: str = "project_id"
    fund_org: str = "fund_org"
    cost_center: str = "cost_center"
    account_code: str = "account_code"
    reference_1: str = ""
    reference_2: str = ""


class ReviewSettings(_Strict):
    flag_patterns: list[str] = Field(default_factory=list)
    fund_org_patterns: list[str] = Field(default_factory=list)
    review_dir: Path = Path("data/review")

    @field_validator("flag_patterns", "fund_org_patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            check_pattern(pattern)  # in RE2, the engine every stage runs it in (a PatternError is a ValueError)
        return patterns


class JournalSettings(_Strict):
    fund_org_regex: str = r"^(?P<orgn>[^-]+)-(?P<fund>.+)$"
    account_code_regex: str = ""
    template: str = "journal_gl.csv"
    default_account: str = ""
    debit_description: str = "{source} {period} Research Computing Charges"
    credit_description: str = "{source} {period} Research Computing Charges"
    description_max_length: int = Field(35, ge=1, le=500)
    reference_field: Literal["reference_1", "reference_2", ""] = "reference_1"

    @field_validator("fund_org_regex", "account_code_regex")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return check_pattern(pattern)


class SmtpSettings(_Strict):
    host: str
    port: int = Field(587, ge=1, le=65535)
    use_tls: bool = True
    use_ssl: bool | None = None
    username: str = ""
    password: str = Field("", repr=False)
    timeout_seconds: float = Field(30, gt=0)


class EmailSettings(_Strict):
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str = "Research Computing Billing"
    subject_template: str = "Research Computing Charges - {billing_period}"
    reply_to: str = ""
    organization_address: str = ""


class OutputSettings(_Strict):
    pdf_dir: Path = Path("data/output/statements")
    journal_dir: Path = Path("data/output/journals")
    email_dir: Path = Path("data/output/outbox")


class DatabaseSettings(_Strict):
    path: Path = Path("data/warehouse.duckdb")
    memory_limit: str = ""
    threads: int | None = Field(None, ge=1)

    @field_validator("path", mode="before")
    @classmethod
    def _a_file(cls, value: Any) -> Any:
        """OpenChargeback also took `sqlite:`/`postgresql:` URLs; the warehouse is a DuckDB file."""
        if isinstance(value, str) and URL.match(value):
            raise ValueError(f"{value!r} is a database URL; the warehouse is a DuckDB file path such as "
                             f"data/warehouse.duckdb (bring OpenChargeback's history over with `ocb import-history`)")
        return value


class LoggingSettings(_Strict):
    enabled: bool = True
    level: Literal["DEBUG", "INFO", "WARN", "WARNING", "ERROR"] = "INFO"
    format: Literal["splunk", "json"] = "splunk"
    file: str = ""


class ScheduleSettings(_Strict):
    """The monthly month-end schedule (shipped off: turn it on in the UI or run the daemon)."""

    day_of_month: int = Field(3, ge=1, le=28)  # 28 at most: every month has that day
    hour: int = Field(6, ge=0, le=23)
    timezone: str = "UTC"
    send_emails: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return known_zone(zone)


class OcbSettings(_Strict):
    """The whole configuration. `config_path` is where it came from (for messages and relative paths)."""

    config_path: Path
    dev_mode: bool = False
    currency: CurrencySettings = CurrencySettings()
    database: DatabaseSettings = DatabaseSettings()
    imports: ImportSettings = ImportSettings()
    tag_mapping: TagMapping = TagMapping()
    review: ReviewSettings = ReviewSettings()
    journal: JournalSettings = JournalSettings()
    output: OutputSettings = OutputSettings()
    smtp: SmtpSettings | None = None
    email: EmailSettings | None = None
    logging: LoggingSettings = LoggingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    dagster_home: Path = Path("data/dagster_home")
    pricing: PricingSettings = PricingSettings()
    funding: FundingSettings = FundingSettings()
    # Accepted for compatibility with OpenChargeback configs; of `web:` only the review desk's keys have an effect
    # (config_file.DESK_WEB_KEYS, read by web/settings.py).
    web: dict[str, Any] | None = None
    sources: dict[str, Any] | None = None
    # Set by load_config: {key: VAR} for deferred `${VAR}`s that were unset, and the keys with no effect.
    _unset_env: dict[str, str] = PrivateAttr(default_factory=dict)
    _ignored_keys: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_from_symbol(cls, value: Any) -> Any:
        """OpenChargeback's `currency: "$"` is a symbol; ours is {code, symbol}. Accept both."""
        if isinstance(value, str):
            if re.fullmatch(r"[A-Z]{3}", value):
                return {"code": value, "symbol": value}
            code = CURRENCY_SYMBOLS.get(value.strip())
            if code is None:
                raise ValueError(
                    f"currency symbol {value!r} does not say which currency it is; write "
                    f"`currency: {{code: XXX, symbol: {value!r}}}` (XXX the ISO 4217 code) "
                    f"or one of the symbols {', '.join(CURRENCY_SYMBOLS)}")
            return {"code": code, "symbol": value}
        return value

    @property
    def ignored_keys(self) -> tuple[str, ...]:
        """Keys of the file accepted for OpenChargeback compatibility that have no effect here."""
        return self._ignored_keys

    @property
    def unset_env(self) -> dict[str, str]:
        """{key: VAR} for the `${VAR}`s that were unset when the file loaded (read as empty)."""
        return dict(self._unset_env)

    def require_env(self, *keys: str) -> None:
        """Refuse, naming the variable, when one of these keys came from an unset `${VAR}`: the value is needed now."""
        missing = [(k, self._unset_env[k]) for k in keys if k in self._unset_env]
        if missing:
            names = ", ".join(f"{key}: environment variable ${{{var}}} is not set" for key, var in missing)
            raise ConfigError(f"{self.config_path}: {names} (set it, or write ${{VAR:-}} in the file for an "
                              f"intentionally empty value)")

    def source(self, name: str) -> KnownSource | None:
        """The known source of that name, case-insensitively."""
        lowered = name.lower()
        return next((s for s in self.imports.known_sources if s.name.lower() == lowered), None)

    @property
    def warehouse_path(self) -> Path:
        return self.database.path

    @property
    def inbox_dir(self) -> Path:
        return self.imports.inbox_dir

    @property
    def review_dir(self) -> Path:
        return self.review.review_dir


_PATH_FIELDS = (
    ("database", "path"),
    ("imports", "inbox_dir"),
    ("review", "review_dir"),
    ("output", "pdf_dir"),
    ("output", "journal_dir"),
    ("output", "email_dir"),
    ("dagster_home",),
    ("pricing", "rates_file"),
    ("pricing", "fees_file"),
    ("pricing", "accounts_file"),
    ("funding", "splits_file"),
)


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    for key_path in _PATH_FIELDS:
        node: Any = data
        for key in key_path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if not isinstance(node, dict):
            continue
        last = key_path[-1]
        if last in node and node[last] not in (None, "") and not URL.match(str(node[last])):
            path = Path(str(node[last])).expanduser()
            node[last] = path if path.is_absolute() else (base / path)
    return data


def _defaults_resolved(settings: OcbSettings, base: Path) -> OcbSettings:
    """Make default relative paths (not written in the file) relative to the config folder too."""
    updates: dict[str, Any] = {}
    for key_path in _PATH_FIELDS:
        obj: Any = settings
        for key in key_path[:-1]:
            obj = getattr(obj, key)
        value = getattr(obj, key_path[-1])
        if isinstance(value, Path) and not value.is_absolute():
            if len(key_path) == 1:
                updates[key_path[0]] = base / value
            else:
                section = updates.get(key_path[0], getattr(settings, key_path[0]))
                updates[key_path[0]] = section.model_copy(update={key_path[-1]: base / value})
    return settings.model_copy(update=updates)


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> OcbSettings:
    """Read, expand and validate the configuration file; raise ConfigError with a precise message."""
    config_path = resolve_config_path(path)
    if not config_path.is_file():
        raise ConfigError(
            f"configuration file not found: {config_path}. Copy config.example.yaml to config.yaml "
            f"(or pass -c PATH / set {CONFIG_ENV_VAR})."
        )
    raw = read_yaml(config_path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of keys, got {type(raw).__name__}")
    unset: dict[str, str] = {}
    try:
        data = expand_env(raw, environ, unset=unset)
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    base = config_path.parent
    data = _resolve_paths(data, base)
    data["config_path"] = config_path
    try:
        settings = OcbSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{config_path}: invalid configuration: {problems}") from None
    settings = _defaults_resolved(settings, base)
    settings._unset_env = unset
    settings._ignored_keys = ignored_keys_in(raw)
    return settings


def load_schedule_settings(path: str | Path | None = None) -> ScheduleSettings:
    """Only the `schedule:` section, for building the schedule when the definitions load.

    The cron of a schedule is fixed when the code location loads, before any run; reading only this
    section keeps an unset SMTP password from stopping the UI. A missing file gives the defaults (every
    run then fails with "configuration file not found"); an invalid section is a ConfigError naming the key.
    """
    config_path = resolve_config_path(path)
    if not config_path.is_file():
        return ScheduleSettings()
    raw = read_yaml(config_path)
    section = raw.get("schedule") if isinstance(raw, dict) else None
    if section is None:
        return ScheduleSettings()
    try:
        return ScheduleSettings.model_validate(expand_env(section, where="schedule"))
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(['schedule', *(str(p) for p in err['loc'])])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{config_path}: invalid configuration: {problems}") from None
