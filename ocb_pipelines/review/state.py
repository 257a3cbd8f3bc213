"""The review state of a month: each validated charge with its effective decision, and the queue (what the state
amounts to, counted and summed, is review/summary.py).

Plain queries over a DuckDB connection (no Dagster), read by the review service, the assets, the period close
and the statements. Decisions themselves are recorded by review/decisions.py.

Keying. A decision is keyed on `charge_id` (stable when the same data is imported again, see
charges/attribution.py) and stores the charge's `row_hash` at decision time. The latest decision of a
charge is its effective one. When the charge's current row_hash differs from the one decided on, the
data changed after the decision: the decision is *stale*, it is not applied, and the charge is back in
the queue with the reason `stale_decision` (the state says which decision and by whom).

Statuses of a charge in a month:
  unflagged  no review reason and no decision: billed as imported
  pending    flagged (or stale decision) and not decided: held back, reported
  approved   approved as imported
  corrected  approved with a new pi_email / project_id / fund_org
  rejected   not billed
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from ocb_pipelines.core.review_reasons import STALE_DECISION, find_reason
from ocb_pipelines.warehouse import database as wh

STATUSES = ("unflagged", "pending", "approved", "corrected", "rejected")
SORT_ORDERS = ("desc", "asc")  # by billed money: largest first (the default), or smallest first
STALE_REASON = STALE_DECISION
DECISIONS = ("approve", "reject", "correct")

# Which lines of the month a state is worked out for: all, the flagged or decided ones (any status but unflagged;
# a tenth of a month or less), or the decided ones. Each a scan DuckDB can filter as it reads.
# The last two read validated_lines (the decided ones come from the `decided` step: one scan for both).
ALL_LINES, REVIEWED_ONLY, DECIDED_ONLY = "all", "reviewed", "decided"
_LINES = {
    ALL_LINES: "SELECT * FROM {lines} WHERE billing_month = $month",
    REVIEWED_ONLY: "SELECT * FROM validated_lines WHERE billing_month = $month AND needs_review UNION ALL "
                   "SELECT * EXCLUDE (present, same_import) FROM decided WHERE NOT needs_review",
    DECIDED_ONLY: "SELECT * EXCLUDE (present, same_import) FROM decided",
}


def state_sql(lines: str = "charges_validated", only: str = ALL_LINES) -> str:
    """The month's review state (parameter `$month`) over `lines`: `charges_validated` gives every column of a
    charge, its raw row's too (names, lineage, row_hash); `validated_lines` what the statuses, money and reasons
    need, without reading the raw rows (a tenth of the time at a million lines). `only`: the lines worked out
    (ALL_LINES; REVIEWED_ONLY and DECIDED_ONLY, of validated_lines)."""
    if only != ALL_LINES and lines != "validated_lines":
        raise ValueError(f"{only} lines are worked out from validated_lines, not {lines}")
    return f"""
WITH latest AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT d.*, row_number() OVER (PARTITION BY charge_id ORDER BY decision_id DESC) AS rn
        FROM review_decisions d WHERE billing_month = $month
    ) WHERE rn = 1
),
decided AS (
    -- The decided lines, whether each one's raw row is still there, and whether it is validated from the import
    -- it was decided on. An import's rows are written in its transaction, never change, and are deleted with
    -- it (ingest/importer.py): its record in `imports` says its rows are there, and a line of the import it was
    -- decided on has the row_hash it was decided on (the raw rows themselves are not read).
    SELECT v.*, i.import_key IS NOT NULL AS present, coalesce(l.import_id = v.import_id, FALSE) AS same_import
    FROM validated_lines v JOIN latest l ON l.charge_id = v.charge_id
        LEFT JOIN imports i ON i.import_id = v.import_id AND i.billing_month = v.billing_month
    WHERE v.billing_month = $month
),
rehashed AS (
    -- The current row_hash (an md5 of the raw row) of the decided lines validated from another import since
    -- (or decided before decisions named their import) only: not of every decided line on every read.
    SELECT v.charge_id, {wh.RAW_ROW_HASH} AS row_hash FROM decided v {wh.RAW_ROW_JOIN} WHERE NOT v.same_import
),
joined AS (
    SELECT v.*,
        l.decision_id, l.decision, l.actor AS decided_by, l.decided_at, l.note AS decision_note, l.via AS decided_via,
        l.pi_email AS new_pi_email, l.project_id AS new_project_id, l.fund_org AS new_fund_org,
        l.row_hash AS decided_row_hash,
        -- a charge whose raw row was replaced since it was validated has no row_hash: its decision is stale
        l.row_hash IS NOT NULL AND (d.present IS NOT TRUE
            OR NOT d.same_import AND l.row_hash IS DISTINCT FROM h.row_hash) AS stale
    FROM ({_LINES[only].format(lines=lines)}) v LEFT JOIN latest l ON l.charge_id = v.charge_id
        LEFT JOIN decided d ON d.charge_id = v.charge_id LEFT JOIN rehashed h ON h.charge_id = v.charge_id
)
SELECT *,
    CASE
        WHEN decision_id IS NULL THEN CASE WHEN needs_review THEN 'pending' ELSE 'unflagged' END
        WHEN stale THEN 'pending'
        WHEN decision = 'approve' THEN 'approved'
        WHEN decision = 'reject' THEN 'rejected'
        ELSE 'corrected'
    END AS review_status,
    CASE WHEN stale THEN list_append(review_reasons, '{STALE_REASON}') ELSE review_reasons END AS queue_reasons
FROM joined
"""


STATE_SQL = state_sql()  # every column of every charge of the month
LINES_STATE_SQL = state_sql("validated_lines")  # every charge, without its raw row's columns
# The state's columns that come from a charge's raw row (charges_validated), not from validated_lines.
RAW_COLUMNS = frozenset({*wh.DESCRIPTIVE_COLUMNS, "row_hash"})


def _uses_raw_columns(condition: str) -> bool:
    return any(re.search(rf"\b{name}\b", condition) for name in RAW_COLUMNS)


def state_relation_sql(where: str | Sequence[str] = "TRUE", statuses: Sequence[str] | None = None,
                       only: str | None = None) -> str:
    """The month's state (parameter `$month`) filtered by SQL conditions over its columns (one text, or a list
    ANDed), worked out from the validated lines; the raw rows are read only for the conditions naming their
    columns (service_name, resource_id ...), after the others have kept what they keep. `statuses` (those the
    conditions require, if any) lets a queue skip the unflagged lines at once; `only` names the lines outright."""
    conditions = [where] if isinstance(where, str) else list(where) or ["TRUE"]
    only = only or (REVIEWED_ONLY if statuses and "unflagged" not in statuses else ALL_LINES)
    lean = " AND ".join(f"({c})" for c in conditions if not _uses_raw_columns(c)) or "TRUE"
    raw = [c for c in conditions if _uses_raw_columns(c)]
    relation = f"SELECT * FROM ({state_sql('validated_lines', only)}) s WHERE {lean}"
    if not raw:
        return relation
    columns = ", ".join(f"{expr} AS {name}" for name, expr in {**wh.DESCRIPTIVE_COLUMNS,
                                                                "row_hash": wh.RAW_ROW_HASH}.items())
    return (f"SELECT * FROM (SELECT v.*, {columns} FROM ({relation}) v {wh.RAW_ROW_JOIN}) s "
            f"WHERE {' AND '.join(f'({c})' for c in raw)}")


def queue_filters(
    ids: Sequence[str] = (), source: str | None = None, reason: str | None = None, pi: str | None = None,
    statuses: Sequence[str] | None = None, *, project: str | None = None, text: str | None = None,
    service: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL condition (and its parameters) over the state's columns that the queue's filters make."""
    where, params = queue_conditions(ids, source, reason, pi, statuses, project=project, text=text, service=service)
    return " AND ".join(where), params


def queue_conditions(
    ids: Sequence[str] = (), source: str | None = None, reason: str | None = None, pi: str | None = None,
    statuses: Sequence[str] | None = None, *, project: str | None = None, text: str | None = None,
    service: str | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """The queue's filters as SQL conditions over the state's columns (ANDed), and their parameters: a list, so
    that `state_relation_sql` reads the raw rows for the conditions that need them only."""
    where, params = ["TRUE"], {}
    if ids:
        where.append("list_contains($ids, charge_id)")
        params["ids"] = list(ids)
    if source:
        where.append("lower(source) = lower($source)")
        params["source"] = source
    if reason:
        entry = find_reason(reason.strip())
        if entry is None or (entry.per_pattern and ":" not in reason):  # any of its patterns: `code:pattern`
            where.append(
                "len(list_filter(queue_reasons, lambda x: x = $reason OR starts_with(x, $reason || ':'))) > 0")
        else:  # one code as it is stored (a list lookup, not a lambda over every reason of every line)
            where.append("list_contains(queue_reasons, $reason)")
        params["reason"] = reason.strip()
    if pi:
        where.append("lower(coalesce(new_pi_email, pi_email, '')) = lower(trim($pi))")
        params["pi"] = pi
    if project:
        where.append("lower(coalesce(new_project_id, project_id, '')) = lower(trim($project))")
        params["project"] = project
    if service:
        where.append("lower(service_name) = lower(trim($service))")
        params["service"] = service
    if statuses:
        where.append("list_contains($statuses, review_status)")
        params["statuses"] = list(statuses)
    if text and text.strip():
        where.append(f"contains(lower(concat_ws(chr(10), {', '.join(SEARCHED_COLUMNS)})), lower(trim($text)))")
        params["text"] = text
    return where, params


# What a free-text search of the queue looks at (the desk's search box).
SEARCHED_COLUMNS = ("charge_id", "source", "file_name", "service_name", "resource_id", "pi_email", "project_id",
                    "fund_org", "new_pi_email", "new_project_id", "new_fund_org", "decision_note", "decided_by")
STATE_COLUMNS = (
    "charge_id", "row_hash", "billing_month", "source", "file_name", "file_row_number", "service_name",
    "resource_id", "pi_email", "project_id", "fund_org", "billed_cost", "list_cost", "billing_currency",
    "review_reasons", "queue_reasons", "review_status", "decision_id", "decision", "decided_by", "decided_at",
    "decision_note", "decided_via", "new_pi_email", "new_project_id", "new_fund_org", "stale", "decided_row_hash",
)  # fmt: skip


def charge_states(
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    ids: Sequence[str] = (),
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    statuses: Sequence[str] | None = ("pending",),
    stale_only: bool = False,
    limit: int | None = None,
    offset: int = 0,
    project: str | None = None,
    text: str | None = None,
    service: str | None = None,
    order: str = "desc",
    row_hash: bool = True,
    totals: bool = False,
) -> list[dict[str, Any]]:
    """Charges of the month with their review status (default: the queue), largest money first (`order` asc:
    smallest first); a page of them with `limit` and `offset`, each with its raw Tags text (`tags`) and whether
    its raw row is there (`raw_row`: not when a later import replaced it, before validation).

    `row_hash=False`: only the stale charges' row_hash (their explanation shows it), the others' None: the raw
    rows are then read for the few columns shown, not for every column an md5 needs (a page of the queue at a
    million lines: 0.7 of its 1.1 s). `totals`: each also has the count and money of every page (`total_rows`,
    `total_billed`; see queue_page)."""
    if order not in SORT_ORDERS:
        raise ValueError(f"unknown sort order {order!r}: use {' or '.join(SORT_ORDERS)}")
    where, params = queue_conditions(ids, source, reason, pi, statuses, project=project, text=text, service=service)
    if stale_only:
        where.append("stale")  # a stale decision puts its charge back in the queue: pending
    relation = state_relation_sql(where, statuses, only=DECIDED_ONLY if stale_only else None)  # stale: decided
    # Every page's count and money from the same rows (a CTE read twice), not a second pass over the month.
    every_page = (", (SELECT count(*) FROM kept) AS total_rows, (SELECT sum(billed_cost) FROM kept) AS total_billed"
                  if totals else "")
    chosen = (
        f"WITH kept AS ({relation}) SELECT {', '.join(c for c in STATE_COLUMNS if c not in RAW_COLUMNS)}, "
        f"import_id{every_page} FROM kept ORDER BY billed_cost {order.upper()}, charge_id"
        + (f" LIMIT {int(limit)}" if limit else "")
        + (f" OFFSET {int(offset)}" if offset else "")
    )
    # The raw row's columns (names, row_hash, Tags) of the chosen charges only: not an md5 of every charge's row.
    raw = {**wh.DESCRIPTIVE_COLUMNS, "row_hash": wh.RAW_ROW_HASH if row_hash else "CAST(NULL AS VARCHAR)"}
    picked = ", ".join(f"{raw[c]} AS {c}" if c in RAW_COLUMNS else f"v.{c}" for c in STATE_COLUMNS)
    sql = (
        f'SELECT {picked}, r."Tags" AS tags, r.import_id IS NOT NULL AS raw_row'
        f"{', v.total_rows, v.total_billed' if totals else ''} FROM ({chosen}) v "
        f"{wh.RAW_ROW_JOIN} ORDER BY v.billed_cost {order.upper()}, v.charge_id"
    )
    cursor = con.execute(sql, {"month": month, **params})
    names = [d[0] for d in cursor.description]
    states = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    stale = [s["charge_id"] for s in states if s["stale"] and s["raw_row"]]
    if not row_hash and stale:
        hashes = dict(con.execute(
            f"""SELECT v.charge_id, {wh.RAW_ROW_HASH} FROM validated_lines v
                SEMI JOIN (SELECT unnest($ids) AS charge_id) k ON k.charge_id = v.charge_id {wh.RAW_ROW_JOIN}
                WHERE v.billing_month = $month""", {"month": month, "ids": stale}).fetchall())
        for s in states:
            s["row_hash"] = hashes.get(s["charge_id"], s["row_hash"])
    return states


def queue_page(
    con: duckdb.DuckDBPyConnection, month: str, *, limit: int | None, offset: int = 0, **filters: Any
) -> tuple[int, Decimal, list[dict[str, Any]]]:
    """The count and money of every page (count_states) and one page of charges (charge_states, `filters` are
    theirs), in one pass over the month's state where the page has charges."""
    states = charge_states(con, month, limit=limit, offset=offset, totals=True, **filters)
    if not states:  # past the last page: nothing to carry the totals
        counted = {k: v for k, v in filters.items() if k not in ("order", "row_hash")}
        return (*count_states(con, month, **counted), [])
    total, billed = states[0]["total_rows"], states[0]["total_billed"]
    return total, billed, [{k: v for k, v in s.items() if k not in ("total_rows", "total_billed")} for s in states]


def month_sources(con: duckdb.DuckDBPyConnection, month: str) -> list[str]:
    """The sources of the month's validated charges, by name (a filter's choices)."""
    return [s for (s,) in con.execute(
        "SELECT DISTINCT source FROM validated_lines WHERE billing_month = ? ORDER BY 1", [month]).fetchall()]


def stale_explanation(state: dict[str, Any]) -> str:
    """Which decision went stale and why, in words."""
    return (
        f"decision #{state['decision_id']} ({state['decision']} by {state['decided_by']} at "
        f"{state['decided_at']:%Y-%m-%d %H:%M}) was made on different data (row_hash "
        f"{str(state['decided_row_hash'])[:12]}, now {str(state['row_hash'])[:12]}); decide again"
    )


def count_states(
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    ids: Sequence[str] = (),
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    statuses: Sequence[str] | None = ("pending",),
    project: str | None = None,
    text: str | None = None,
    service: str | None = None,
) -> tuple[int, Decimal]:
    """How many charges `charge_states` would list with these filters (every page), and their billed money."""
    where, params = queue_conditions(ids, source, reason, pi, statuses, project=project, text=text, service=service)
    count, billed = con.execute(
        f"SELECT count(*), sum(billed_cost) FROM ({state_relation_sql(where, statuses)})", {"month": month, **params}
    ).fetchall()[0]
    return count, Decimal(0) if billed is None else billed


@contextmanager
def charge_id_table(con: duckdb.DuckDBPyConnection, charge_ids: Iterable[str]) -> Iterator[str]:
    """Charge ids as a table to join (its name): a bulk decision's tens of thousands pass in as Arrow more than
    twice as fast as a list parameter."""
    name = f"chosen_charges_{next(_TABLES)}"
    con.register(name, pa.table({"charge_id": pa.array(list(charge_ids), pa.string())}))
    try:
        yield name
    finally:
        con.unregister(name)


_TABLES = itertools.count()


def billed_of(con: duckdb.DuckDBPyConnection, month: str, charge_ids: Sequence[str]) -> Decimal:
    """The billed money of some charges of the month (exact; 0 for none)."""
    with charge_id_table(con, charge_ids) as chosen:
        return con.execute(
            f"SELECT coalesce(sum(billed_cost), 0) FROM validated_lines v SEMI JOIN {chosen} k "
            "ON k.charge_id = v.charge_id WHERE v.billing_month = ?", [month],
        ).fetchall()[0][0]
