"""Build statement emails and hand them to a transport (no Dagster).

One email per PI and month: an HTML summary of their projects (the `email_summary.html` template,
Jinja2 autoescape ON) with a plain-text alternative, and each project's PDF and CSV attached. The
message is built with the standard library (`email.message.EmailMessage`: a proper
multipart/alternative body, attachments by name and a Message-ID we choose); yagmail opens the SMTP
connection (SSL on port 465 or `use_ssl`, STARTTLS when `use_tls`, login only with a username and
password). On the wire every line ends in CRLF (`email.policy.SMTP`, RFC 5321: smtplib sends bytes
as given, and a strict server refuses bare-LF data as one over-long line). In dev mode the message is
written as an `.eml` file to the outbox folder instead (LF line endings, as local mail files use).

The SMTP password never appears in a message, a log line or metadata: errors pass through `redact`.
"""

from __future__ import annotations

import contextlib
import email.policy
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from ocb_pipelines.core.config import OcbSettings, SmtpSettings
from ocb_pipelines.core.money import format_money
from ocb_pipelines.statements import naming, render
from ocb_pipelines.statements.lines import discount_percent

ADDRESS_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class DeliveryError(ValueError):
    """Delivery is refused (configuration, period or statement problem); nothing was sent."""


@dataclass(frozen=True)
class Attachment:
    path: Path
    name: str
    sha256: str
    mime: tuple[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256}


@dataclass
class EmailPlan:
    """What one PI receives for one month."""

    billing_month: str
    pi_email: str
    statements: list[dict[str, Any]]
    attachments: list[Attachment] = field(default_factory=list)
    subject: str = ""
    content_key: str = ""  # sha256 of the statements' content hashes: "the same statement content"

    @property
    def recipient(self) -> str:
        return self.pi_email

    @property
    def billed_total(self) -> Decimal:
        return sum((Decimal(s["billed_total"]) for s in self.statements), Decimal(0))


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def valid_address(address: str | None) -> bool:
    return bool(address) and len(address) <= 254 and bool(ADDRESS_RE.match(address))  # type: ignore[arg-type]


def subject_for(settings: OcbSettings, month: str) -> str:
    template = settings.email.subject_template if settings.email else "Research Computing Charges - {billing_period}"
    try:
        subject = template.format_map({"billing_period": month, "period": month})
    except (KeyError, IndexError, ValueError) as exc:
        raise DeliveryError(f"email.subject_template {template!r} is invalid: {exc}") from None
    return " ".join(subject.split())  # no header folding tricks from the config either


def content_key(month: str, pi_email: str, content_hashes: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{month}\x1f{pi_email}\x1f".encode())
    for h in sorted(content_hashes):
        digest.update(h.encode() + b"\x1e")
    return digest.hexdigest()


def plan_emails(settings: OcbSettings, month: str, rows: Sequence[dict[str, Any]]) -> list[EmailPlan]:
    """Group the month's recorded statements by PI; check every file still has the recorded sha256."""
    by_pi: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_pi.setdefault(row["pi_email"], []).append(row)
    subject = subject_for(settings, month)
    plans = []
    for pi, statements in sorted(by_pi.items()):
        statements.sort(key=lambda r: r["project_id"])
        plan = EmailPlan(month, pi, statements, subject=subject,
                         content_key=content_key(month, pi, [s["content_sha256"] for s in statements]))
        for s in statements:
            for f in s["files"]:  # every format the statement was rendered in (statements/writers)
                path = Path(f["path"])
                actual = render.file_sha256(path)
                if actual != f["sha256"]:
                    state = "is missing" if actual is None else "was changed after it was generated"
                    raise DeliveryError(f"statement file {path.name} {state}; generate the statements again "
                                        f"(`ocb generate -p {month}`, or materialise statements for {month} "
                                        "in the Dagster UI)")
                main, _, sub = f["mime"].partition("/")
                plan.attachments.append(Attachment(path, path.name, actual, (main, sub or "octet-stream")))
        plans.append(plan)
    return plans


def _summary_context(plan: EmailPlan, settings: OcbSettings) -> dict[str, Any]:
    ctx = render.context_from(settings)
    statements = [
        {"project_id": s["project_id"], "list_total": Decimal(s["list_total"]),
         "discount_total": Decimal(s["discount_total"]), "billed_total": Decimal(s["billed_total"]),
         "funds": [{"fund_org": f["fund_org"], "percent": f["percent"]} for f in s.get("funds", [])]}
        for s in plan.statements
    ]
    list_total = sum((s["list_total"] for s in statements), Decimal(0))
    billed = sum((s["billed_total"] for s in statements), Decimal(0))
    return {
        "subject": plan.subject,
        "billing_month": plan.billing_month,
        "pi_email": plan.pi_email,
        "statements": statements,
        "totals": {"list": list_total, "billed": billed, "discount": list_total - billed,
                   "discount_percent": discount_percent(list_total, billed)},
        "org": {"name": ctx.org_name, "address": ctx.org_address, "contact": ctx.contact},
        "currency": {"symbol": ctx.currency_symbol, "code": ctx.currency_code},
    }


def email_bodies(plan: EmailPlan, settings: OcbSettings) -> tuple[str, str]:
    """(html, plain text). The HTML comes from the (overridable) template; the text is built here."""
    context = _summary_context(plan, settings)
    env = render.make_env(render.template_dirs(settings.config_path), settings.currency.symbol)
    try:
        html = render.render_template(env, render.EMAIL_TEMPLATE, **context)
    except render.TemplateRefused as exc:
        raise DeliveryError(f"{exc}; nothing was sent") from None
    symbol = settings.currency.symbol
    totals = context["totals"]
    lines = [
        plan.subject, "",
        "Dear Researcher,", "",
        f"Your research computing statements for {plan.billing_month} ({len(plan.statements)} project(s)) "
        "are attached.",
        "",
        f"  List price:          {format_money(totals['list'], symbol)}",
        f"  Discount / subsidy:  {format_money(-totals['discount'], symbol)} ({totals['discount_percent']}%)",
        f"  Amount billed:       {format_money(totals['billed'], symbol)} {settings.currency.code}",
        "", "Charges by project:",
    ]  # fmt: skip
    for s in context["statements"]:
        funds = ", ".join(f"{f['fund_org']} ({f['percent']}%)" if len(s["funds"]) > 1 else f["fund_org"]
                          for f in s["funds"])
        lines.append(f"  - {s['project_id']} [{funds}]: {format_money(s['billed_total'], symbol)} "
                     f"(list {format_money(s['list_total'], symbol)})")
    lines += ["", "Each project has a PDF statement and a CSV file with every charge line attached.",
              f"Questions? Write to {context['org']['contact']}.", "",
              f"This is an automated message from {context['org']['name']}."]
    return html, "\n".join(lines) + "\n"


def check_bodies(plans: Sequence[EmailPlan], settings: OcbSettings) -> None:
    """Render every email's bodies before the first is sent: a template the sandbox refuses (even for one PI's
    values) raises DeliveryError while nothing has left the machine."""
    for plan in plans:
        email_bodies(plan, settings)


def message_id_for(plan: EmailPlan, attempt: int, from_address: str) -> str:
    """Deterministic: the same content and attempt number always give the same Message-ID."""
    domain = from_address.rsplit("@", 1)[-1] if "@" in from_address else "ocb.invalid"
    return f"<ocb.{plan.billing_month}.{plan.content_key[:32]}.{attempt}@{domain}>"


def build_message(plan: EmailPlan, settings: OcbSettings, *, message_id: str, date: datetime) -> EmailMessage:
    if settings.email is None:
        raise DeliveryError("the configuration has no `email:` block (from_address, from_name): cannot send")
    if not valid_address(plan.recipient):
        raise DeliveryError(f"{plan.recipient!r} is not a valid email address")
    html, text = email_bodies(plan, settings)
    msg = EmailMessage()
    msg["From"] = formataddr((settings.email.from_name, settings.email.from_address))
    msg["To"] = plan.recipient
    msg["Subject"] = plan.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if settings.email.reply_to:
        msg["Reply-To"] = settings.email.reply_to
    msg["X-OCB-Billing-Month"] = plan.billing_month
    msg["X-OCB-Content-Key"] = plan.content_key
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for a in plan.attachments:
        msg.add_attachment(a.path.read_bytes(), maintype=a.mime[0], subtype=a.mime[1], filename=a.name)
    return msg


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as an SMTP server must receive it: every line ended by CRLF, none over 998 bytes."""
    return msg.as_bytes(policy=email.policy.SMTP)


# ------------------------------------------------------------------------------------------------
# Transports
# ------------------------------------------------------------------------------------------------


class SendFailed(RuntimeError):
    """The server did not take the message. `certain` is False when it may have been delivered anyway
    (the connection broke after the data was handed over): such a message is never retried on its own."""

    def __init__(self, message: str, certain: bool = True):
        super().__init__(message)
        self.certain = certain


class OutboxTransport:
    """Dev mode: write each message as `<email_dir>/<month>/<name>.eml` (atomically)."""

    name = "outbox"

    def __init__(self, email_dir: Path):
        self.email_dir = email_dir
        self._swept: set[Path] = set()

    def path_for(self, plan: EmailPlan, attempt: int) -> Path:
        folder = naming.month_folder(self.email_dir, plan.billing_month)
        stem = naming.pi_stem(plan.billing_month, plan.pi_email)
        return naming.contained(folder, f"{stem}_{plan.content_key[:12]}_{attempt}.eml")

    def send(self, msg: EmailMessage, plan: EmailPlan, attempt: int) -> str:
        path = self.path_for(plan, attempt)
        if path.parent not in self._swept:  # temp files of a run killed mid-write
            render.remove_stale_temps(path.parent)
            self._swept.add(path.parent)
        try:
            render.write_atomic(path, bytes(msg), fsync=True)  # its existence later means "written"
        except OSError as exc:  # disk full, permissions: nothing written (write_atomic leaves no partial file)
            raise SendFailed(f"cannot write {path}: {exc.strerror or exc}") from None
        return str(path)

    def delivered(self, plan: EmailPlan, attempt: int) -> bool:
        """The write is atomic, so an existing file is a complete message."""
        return self.path_for(plan, attempt).is_file()

    def close(self) -> None:
        return None


class SmtpTransport:
    """yagmail's SMTP client, opened once and reused; reopened after a failure."""

    name = "smtp"

    def __init__(self, smtp: SmtpSettings, from_address: str):
        self.smtp = smtp
        self.from_address = from_address
        self._client: Any = None
        self._unreachable = ""  # set when connecting failed: the rest of this run fails fast, not one timeout each

    @property
    def use_ssl(self) -> bool:
        return self.smtp.use_ssl if self.smtp.use_ssl is not None else self.smtp.port == 465

    def _secrets(self) -> list[str]:
        return [self.smtp.password] if self.smtp.password else []

    def _connect(self) -> Any:
        import yagmail

        login = bool(self.smtp.username and self.smtp.password)
        client = yagmail.SMTP(
            user=self.smtp.username or self.from_address,
            password=self.smtp.password or None,
            host=self.smtp.host,
            port=self.smtp.port,
            smtp_ssl=self.use_ssl,
            smtp_starttls=bool(self.smtp.use_tls) and not self.use_ssl,
            smtp_skip_login=not login,
            soft_email_validation=False,
            timeout=self.smtp.timeout_seconds,
        )
        client.user = self.smtp.username or self.from_address  # yagmail appends @gmail.com to a bare username
        client.login()
        return client

    def send(self, msg: EmailMessage, plan: EmailPlan, attempt: int) -> str:
        import smtplib

        if self._unreachable:
            raise SendFailed(self._unreachable)
        try:
            if self._client is None:
                self._client = self._connect()
        except Exception as exc:  # could not connect or log in: certainly not sent
            self.close()
            self._unreachable = redact(f"cannot reach the SMTP server {self.smtp.host}:{self.smtp.port} "
                                       f"({type(exc).__name__}: {exc})", self._secrets())
            raise SendFailed(self._unreachable) from None
        try:
            refused = self._client.smtp.sendmail(self.from_address, [plan.recipient], wire_bytes(msg))
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()  # the server answered "no": certainly not delivered
            reasons = "; ".join(f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values())
            raise SendFailed(redact(f"the SMTP server {self.smtp.host}:{self.smtp.port} refused recipient "
                                    f"{plan.recipient}: {reasons}", self._secrets())) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                smtplib.SMTPHeloError, smtplib.SMTPNotSupportedError) as exc:
            self.close()  # the server answered "no": certainly not delivered
            raise SendFailed(redact(f"{type(exc).__name__}: {exc}", self._secrets())) from None
        except Exception as exc:  # connection lost or timed out mid-way: it may have been delivered
            self.close()
            raise SendFailed(redact(f"{type(exc).__name__}: {exc}", self._secrets()), certain=False) from None
        if refused:
            raise SendFailed(f"recipient refused: {sorted(refused)}")
        return f"{self.smtp.host}:{self.smtp.port}"

    def delivered(self, plan: EmailPlan, attempt: int) -> bool:
        return False  # an SMTP server cannot be asked; an unresolved attempt needs an explicit resend

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def transport_for(settings: OcbSettings) -> OutboxTransport | SmtpTransport:
    if settings.email is None:
        raise DeliveryError("the configuration has no `email:` block (from_address, from_name): cannot send")
    if settings.dev_mode:
        return OutboxTransport(settings.output.email_dir)
    if settings.smtp is None:
        raise DeliveryError("dev_mode is off and the configuration has no `smtp:` block: cannot send")
    try:  # an unset ${SMTP_PASSWORD} loads as empty (as in OpenChargeback) and is refused here, where it is needed
        settings.require_env("smtp.username", "smtp.password")
    except ValueError as exc:
        raise DeliveryError(f"cannot send through SMTP: {exc}") from None
    return SmtpTransport(settings.smtp, settings.email.from_address)
