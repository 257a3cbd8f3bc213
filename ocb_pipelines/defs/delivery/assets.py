"""`statement_deliveries`: one email per PI with every project statement attached, logged, never sent twice."""

import dagster as dg
from pydantic import Field

from ocb_pipelines.defs.metadata import markdown_table
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL, billing_month
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.defs.statements.assets import statements
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.delivery.email import DeliveryError
from ocb_pipelines.services.run_tags import run_actor

UNCERTAIN_WHY = "may have been delivered (the connection broke after the data was handed over); not sent again"


class DeliveryConfig(dg.Config):
    """Leave empty to send what has not been sent. `resend`: PI emails to send again on purpose (with a reason).

    There is no dry run here: a materialisation records emails that were sent. What would be sent is a query
    (`ocb generate --dry-run`, services.deliveries.preview_send), which materialises nothing."""

    resend: list[str] = Field(default_factory=list)
    resend_reason: str = ""


@dg.asset(
    partitions_def=billing_month,
    group_name="delivery",
    kinds={"duckdb", "email"},
    owners=["team:research-computing"],
    pool=WAREHOUSE_POOL,
    deps=[statements],
    description=(
        "Emails each PI one message for the month (HTML summary of their projects with a plain-text alternative, "
        "every project's PDF and CSV attached) through the configured SMTP server, or as .eml files in the outbox "
        "in dev mode. Every attempt is logged in `delivery_log`; an intent row is committed before the SMTP call, "
        "so the same content is never sent twice to an address unless a resend is asked for."
    ),
)
def statement_deliveries(context: dg.AssetExecutionContext, config: DeliveryConfig, ocb: OcbConfig,
                         warehouse: Warehouse) -> dg.MaterializeResult:
    settings = ocb.settings()
    month = context.partition_key
    actor = run_actor(context.run.tags)

    def _log(item: dict) -> None:
        text = f"{item['to']}: {item['status']}"
        if item.get("error"):
            context.log.warning(f"{text}: {item['error']}")
        else:
            context.log.info(text)

    with warehouse.get_connection() as con:
        try:
            result = deliver_month(con, settings, month, resend_pis=config.resend,
                                   resend_reason=config.resend_reason or None,
                                   actor=actor, run_id=context.run.run_id, on_event=_log)
        except DeliveryError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
    table = markdown_table([
        {"to": i["to"], "status": i["status"], "projects": len(i["projects"]), "attachments": len(i["attachments"]),
         "message_id": i.get("message_id", ""), "note": i.get("error") or i.get("note", "")}
        for i in result.items[:200]
    ])  # fmt: skip
    if result.failed:
        by_error: dict[str, list[str]] = {}  # one cause (server down) is said once, not once per PI
        for i in result.failed:
            why = UNCERTAIN_WHY if i["status"] in ("unknown", "uncertain") else i.get("error", "")
            by_error.setdefault(f"{i['status']} {why}".strip(), []).append(i["to"])
        listing = "; ".join(
            f"{', '.join(to[:3])}{f' and {len(to) - 3} more' if len(to) > 3 else ''}: {error}"
            for error, to in list(by_error.items())[:10]
        )
        uncertain = any(i["status"] in ("unknown", "uncertain") for i in result.failed)
        todo = (f"materialise statement_deliveries for {month} again (in the Dagster UI, or `ocb send -p {month}`) "
                "to retry failed ones" +
                (f"; an uncertain one: `ocb deliveries confirm -p {month}` if the mail server's log has its "
                 f"Message-ID (`ocb deliveries list -p {month}`), else resend it (`ocb resend`, or `resend` and "
                 "`resend_reason` in send_job's Launchpad)" if uncertain else ""))
        raise dg.Failure(
            description=(f"{len(result.failed)} email(s) for {month} not delivered (logged in delivery_log; "
                         f"{todo}): {listing}"),
            metadata={"deliveries": dg.MetadataValue.md(table)},
            allow_retries=False,
        )
    return dg.MaterializeResult(
        metadata={
            "transport": dg.MetadataValue.text(result.transport),
            "emails": dg.MetadataValue.int(len(result.items)),
            **{k: dg.MetadataValue.int(v) for k, v in sorted(result.summary().items())},
            "deliveries": dg.MetadataValue.md(table),
            "dagster/table_name": "delivery_log",
        }
    )
