"""Decision requests sent to the desk, kept by their idempotency key in the desk's SQLite file.

A request is recorded before anything is decided, so it survives a busy warehouse and a restart: `queued` until
it is applied (`applied`, with its outcome) or refused as a whole (`refused`, with the reason). The same key
again finds the stored request: the same body gets the stored answer, a different body or user is refused
(RequestConflict). Requests are applied in the order they were received (the table's rowid). An applied request
whose decisions still have to reach the month's approved charges has `rebuild_pending` set until that run ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocb_pipelines.desk.store import desk_connection

STATES = ("queued", "applied", "refused")


class RequestConflict(ValueError):
    """The idempotency key was used before for another request (another body, user or month)."""


@dataclass(frozen=True)
class StoredRequest:
    """One decision request as the desk keeps it; `request` and `result` are the JSON objects stored."""

    key: str
    username: str
    month: str
    request: dict[str, Any]
    state: str
    result: dict[str, Any] | None
    received_at: str
    applied_at: str | None
    attempts: int = 0
    last_error: str | None = None
    rebuild_pending: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stored(row) -> StoredRequest:
    return StoredRequest(
        key=row["idempotency_key"], username=row["username"], month=row["month"],
        request=json.loads(row["request_json"]), state=row["state"],
        result=json.loads(row["result_json"]) if row["result_json"] else None, received_at=row["received_at"],
        applied_at=row["applied_at"], attempts=row["attempts"], last_error=row["last_error"],
        rebuild_pending=bool(row["rebuild_pending"]),
    )  # fmt: skip


def record_request(path: Path, key: str, username: str, month: str, request_json: str) -> tuple[StoredRequest, bool]:
    """The request under `key`, recorded `queued` if new: (stored request, whether it was new). A key seen before
    with another body, user or month is refused (RequestConflict): nothing is recorded or decided."""
    with desk_connection(path) as con:
        row = con.execute("SELECT * FROM desk_decision_requests WHERE idempotency_key = ?", (key,)).fetchone()
        if row is None:
            con.execute(
                "INSERT INTO desk_decision_requests (idempotency_key, username, month, request_json, state, "
                "received_at) VALUES (?, ?, ?, ?, 'queued', ?)",
                (key, username, month, request_json, _now()),
            )
            row = con.execute("SELECT * FROM desk_decision_requests WHERE idempotency_key = ?", (key,)).fetchone()
            return _stored(row), True
    if (row["username"], row["month"], row["request_json"]) != (username, month, request_json):
        raise RequestConflict(
            f"idempotency key {key!r} was already used for another decision request (by {row['username']} on "
            f"{row['received_at']}, billing month {row['month']}): send a new key for a new request"
        )
    return _stored(row), False


def get_request(path: Path, key: str) -> StoredRequest | None:
    with desk_connection(path) as con:
        row = con.execute("SELECT * FROM desk_decision_requests WHERE idempotency_key = ?", (key,)).fetchone()
    return _stored(row) if row else None


def queued_requests(path: Path, month: str | None = None) -> list[StoredRequest]:
    """The requests still waiting (of one month, or all), oldest first: the order they must be applied in."""
    with desk_connection(path) as con:
        rows = con.execute(
            "SELECT * FROM desk_decision_requests WHERE state = 'queued' AND (? IS NULL OR month = ?) ORDER BY rowid",
            (month, month),
        ).fetchall()
    return [_stored(r) for r in rows]


def finish_request(path: Path, key: str, state: str, result: dict[str, Any], rebuild: bool = False,
                   ) -> StoredRequest:
    """Mark a queued request applied or refused, with its outcome (JSON-ready: money as exact text); `rebuild`:
    its decisions still have to reach the approved charges (a run, `finish_rebuild`)."""
    if state not in ("applied", "refused"):
        raise ValueError(f"a request is finished as applied or refused, not {state!r}")
    with desk_connection(path) as con:
        con.execute(
            "UPDATE desk_decision_requests SET state = ?, result_json = ?, applied_at = ?, attempts = attempts + 1, "
            "last_error = NULL, rebuild_pending = ? WHERE idempotency_key = ? AND state = 'queued'",
            (state, json.dumps(result, sort_keys=True), _now(), int(rebuild), key),
        )
        row = con.execute("SELECT * FROM desk_decision_requests WHERE idempotency_key = ?", (key,)).fetchone()
    return _stored(row)


def pending_rebuilds(path: Path) -> list[StoredRequest]:
    """Applied requests whose month's approved charges were not rebuilt since, oldest first."""
    with desk_connection(path) as con:
        rows = con.execute("SELECT * FROM desk_decision_requests WHERE rebuild_pending = 1 ORDER BY rowid").fetchall()
    return [_stored(r) for r in rows]


def finish_rebuild(path: Path, keys: list[str], run: dict[str, Any]) -> None:
    """The run that rebuilt the approved charges after these requests: kept in each one's outcome."""
    with desk_connection(path) as con:
        for key in keys:
            row = con.execute("SELECT result_json FROM desk_decision_requests WHERE idempotency_key = ?",
                              (key,)).fetchone()
            result = json.loads(row["result_json"]) if row and row["result_json"] else {}
            result = {**result, "rebuild": run, "ok": bool(result.get("ok")) and bool(run.get("success"))}
            con.execute("UPDATE desk_decision_requests SET result_json = ?, rebuild_pending = 0 "
                        "WHERE idempotency_key = ?", (json.dumps(result, sort_keys=True), key))


def note_failure(path: Path, key: str, error: str) -> None:
    """A failed attempt at a queued request (an unexpected error): it stays queued, the error is shown with it."""
    with desk_connection(path) as con:
        con.execute("UPDATE desk_decision_requests SET attempts = attempts + 1, last_error = ? "
                    "WHERE idempotency_key = ? AND state = 'queued'", (error, key))
