"""Decisions sent to the review desk (its form and its JSON API): recorded first, applied exactly once.

A request carries an idempotency key (the API's `Idempotency-Key` header; the form's hidden key, made when the
page was rendered). `submit_decision` records it in the desk's SQLite file before anything else, so:
- the same key again gets the stored answer and decides nothing twice; the same key with another body: 409;
- while another process holds the warehouse (an import), the request stays `queued` and the caller is told at
  once; `apply_queued` (the desk's background thread) applies the queued requests in the order they came, each
  as the user who sent it, when the warehouse is free;
- the decisions of a request carry its key as their `origin` in the warehouse, in the transaction that records
  them: a request found queued whose decisions are already in the warehouse (the desk stopped between the two
  commits) is marked applied, never applied again.
Requests are applied one at a time per process; a request that finds another being applied stays queued (the
page refreshes) rather than wait. The decisions count at once (the queue, the month's figures and a close read
the review state); the month's approved charges follow in a review_job run as the deciding user, started by
`apply_queued` (one run per month and user for the requests decided since the last), so a click never waits
for a run.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ocb_pipelines.core.jsonable import to_jsonable
from ocb_pipelines.desk import decision_requests as store
from ocb_pipelines.desk.decision_requests import RequestConflict, StoredRequest
from ocb_pipelines.review.decisions import CORRECTABLE, DecisionError, normalize_decision
from ocb_pipelines.services import review
from ocb_pipelines.services.context import AppContext, WarehouseBusy
from ocb_pipelines.services.desk_users import desk_file

__all__ = ["FILTERS", "DecisionRequest", "RequestConflict", "RequestInvalid", "SubmittedDecision",
           "apply_queued", "decision_request", "queued_decisions", "submit_decision"]
FILTERS = ("reason", "source", "pi", "project", "service", "text")  # the queue's filters, as a bulk selection
MAX_KEY_LENGTH = 200
KEY_PATTERN = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_KEY_LENGTH}}}")  # a uuid fits; a key is safe in any URL path
ORIGIN_PREFIX = "desk request "
_APPLYING = threading.Lock()  # one request applied at a time in this process: in order, and never twice
_REBUILDING = threading.Lock()  # one rebuild pass at a time (a run takes seconds; decisions go on meanwhile)
log = logging.getLogger("ocb.desk")


class RequestInvalid(ValueError):
    """A decision request that cannot be one (no note, unknown decision, no selection...): nothing recorded."""


@dataclass(frozen=True)
class DecisionRequest:
    """What to decide: `ids` (those charges, all or none), or every pending charge matching `filters` (the
    queue's filters; none: the whole queue), with a note and, for `correct`, the new PI / project / fund."""

    decision: str
    note: str
    ids: tuple[str, ...] = ()
    filters: Mapping[str, str] | None = None  # None with ids; {} for the whole queue
    corrections: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision, "note": self.note}
        if self.ids:
            out["ids"] = list(self.ids)
        else:
            out["filter"] = dict(self.filters or {})
        if self.corrections:
            out["corrections"] = dict(self.corrections)
        return out

    def canonical(self) -> str:
        """The request as one JSON text (keys sorted): equal requests, equal texts."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RequestInvalid(f"{name} must be text, not {type(value).__name__}")
    return value.strip()


def decision_request(payload: Mapping[str, Any]) -> DecisionRequest:
    """A request from its JSON form {decision, note, ids | filter, corrections}, checked: RequestInvalid says what
    is wrong (unknown field, no note, both ids and a filter, a correction without a new value...)."""
    unknown = sorted(set(payload) - {"decision", "note", "ids", "filter", "corrections"})
    if unknown:
        raise RequestInvalid(f"unknown field(s) {', '.join(unknown)}: send decision, note, ids or filter, "
                             "and corrections")
    decision = normalize_decision(_text(payload.get("decision"), "decision"))
    if decision is None:
        raise RequestInvalid(f"decision {payload.get('decision')!r}: use approve, reject or correct")
    note = _text(payload.get("note"), "note")
    if not note:
        raise RequestInvalid("a note is required for every decision: say why")
    ids, raw_filter = payload.get("ids"), payload.get("filter")
    if ids is not None and raw_filter is not None:
        raise RequestInvalid("send either ids (those charges) or filter (every pending charge matching it), not both")
    if ids is None and raw_filter is None:
        raise RequestInvalid("say which charges: ids [...] or filter {...} ({} for the whole queue)")
    chosen: tuple[str, ...] = ()
    filters: dict[str, str] | None = None
    if ids is not None:
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.strip() for i in ids):
            raise RequestInvalid("ids must be a list of charge ids (text), at least one")
        chosen = tuple(dict.fromkeys(i.strip() for i in ids))
    else:
        if not isinstance(raw_filter, Mapping):
            raise RequestInvalid(f"filter must be an object with any of {', '.join(FILTERS)}")
        wrong = sorted(set(raw_filter) - set(FILTERS))
        if wrong:
            raise RequestInvalid(f"unknown filter(s) {', '.join(wrong)}: use {', '.join(FILTERS)}")
        filters = {k: v for k in FILTERS if (v := _text(raw_filter.get(k), f"filter.{k}"))}
        codes = [r["code"] for r in review.list_review_reasons()]
        if "reason" in filters and filters["reason"].split(":", 1)[0] not in codes:
            raise RequestInvalid(f"unknown review reason {filters['reason']!r}: one of {', '.join(codes)}")
    raw_fixes = payload.get("corrections") or {}
    if not isinstance(raw_fixes, Mapping):
        raise RequestInvalid(f"corrections must be an object with any of {', '.join(CORRECTABLE)}")
    wrong = sorted(set(raw_fixes) - set(CORRECTABLE))
    if wrong:
        raise RequestInvalid(f"unknown correction(s) {', '.join(wrong)}: use {', '.join(CORRECTABLE)}")
    fixes = {k: v for k in CORRECTABLE if (v := _text(raw_fixes.get(k), f"corrections.{k}"))}
    if decision == "correct" and not fixes:
        raise RequestInvalid("a correction needs a new pi_email, project_id or fund_org")
    if decision != "correct" and fixes:
        raise RequestInvalid(f"new pi_email / project_id / fund_org given with {decision!r}: use correct")
    return DecisionRequest(decision, note, chosen, filters, fixes)


@dataclass(frozen=True)
class SubmittedDecision:
    """A request as stored: `queued`, `applied` (with its outcome) or `refused` (with why); `replayed`: the key
    was seen before and this is the stored answer."""

    stored: StoredRequest
    replayed: bool = False

    @property
    def key(self) -> str:
        return self.stored.key

    @property
    def state(self) -> str:
        return self.stored.state

    @property
    def result(self) -> dict[str, Any]:
        return self.stored.result or {}

    def as_dict(self) -> dict[str, Any]:
        s = self.stored
        return {"key": s.key, "state": s.state, "month": s.month, "user": s.username, "request": s.request,
                "received_at": s.received_at, "applied_at": s.applied_at, "replayed": self.replayed,
                "result": s.result, "attempts": s.attempts, "last_error": s.last_error,
                "rebuild_pending": s.rebuild_pending}


def _outcome(result: review.DecisionOutcome, recovered: bool = False) -> dict[str, Any]:
    """A decision's outcome as stored: counts and exact money, at most MAX_LISTED held charges per cause."""
    held = [{**h, "charges": h["charges"][: review.MAX_LISTED]} for h in result.held_by_cause()]
    return to_jsonable({
        "ok": result.decided, "decision": result.decision, "actor": result.actor, "recovered": recovered,
        "recorded": len(result.recorded), "recorded_billed": result.billed_total,
        "held_count": len(result.outcome.held_ids), "held_billed": result.held_billed, "held": held,
        "summary": result.outcome.summary() if result.outcome.held else "", "rebuild": None,
    })  # fmt: skip


def _decide(ctx: AppContext, stored: StoredRequest) -> tuple[str, dict[str, Any], bool]:
    """Apply one request as its user: (state, outcome, whether something was recorded). WarehouseBusy propagates."""
    request, origin = stored.request, ORIGIN_PREFIX + stored.key
    count, billed = review.decisions_from(ctx, stored.month, origin)
    if count:  # recorded before the desk could mark it applied: never twice
        return "applied", to_jsonable({
            "ok": True, "decision": request["decision"], "actor": ctx.actor, "recovered": True, "recorded": count,
            "recorded_billed": billed, "held_count": 0, "held_billed": Decimal(0), "held": [], "summary": "",
            "rebuild": {"pending": True}}), True  # fmt: skip
    filters = request.get("filter")
    selection: dict[str, Any] = {"ids": request["ids"]} if "ids" in request else {
        **{k: filters.get(k) for k in FILTERS}, "everything": not filters}
    try:
        result = review.decide_charges(ctx, stored.month, request["decision"], request["note"],
                                       corrections=request.get("corrections"), rebuild=False, origin=origin,
                                       **selection)
    except review.Refused as exc:
        kind = "decision" if isinstance(exc, DecisionError) else "period"
        problems = list(getattr(exc, "problems", None) or [])
        return "refused", {"ok": False, "refused": kind, "error": str(exc).splitlines()[0].rstrip(":"),
                           "problems": problems[: review.MAX_LISTED], "more_problems":
                           max(0, len(problems) - review.MAX_LISTED)}, False
    outcome = _outcome(result)
    if result.recorded:
        outcome["rebuild"] = {"pending": True}
    return "applied", outcome, bool(result.recorded)


def _apply(ctx: AppContext, path: Path, stored: StoredRequest) -> StoredRequest:
    """Apply a queued request as its user (the caller holds _APPLYING); its rebuild is left to `apply_queued`."""
    current = store.get_request(path, stored.key)
    if current is None or current.state != "queued":
        return current or stored
    as_user = replace(ctx, actor=current.username)
    try:
        state, outcome, rebuild = _decide(as_user, current)
    except WarehouseBusy:
        raise
    except Exception as exc:  # a bug or a transient failure: keep the request, say why on its page, retry
        store.note_failure(path, current.key, f"{type(exc).__name__}: {exc}")
        raise
    return store.finish_request(path, current.key, state, outcome, rebuild=rebuild)


def _drain(ctx: AppContext, path: Path, until: str | None = None) -> list[StoredRequest]:
    """Apply queued requests oldest first (holding _APPLYING), up to `until`'s key when given; stop when the
    warehouse is busy. The requests applied or refused."""
    done = []
    for stored in store.queued_requests(path):
        try:
            done.append(_apply(ctx, path, stored))
        except WarehouseBusy:
            break
        except Exception:
            if stored.key == until:
                raise
            log.exception("decision request %s failed; it stays queued, and so do the requests after it",
                          stored.key)
            break
        if stored.key == until:
            break
    return done


def submit_decision(ctx: AppContext, month: str, request: DecisionRequest, key: str) -> SubmittedDecision:
    """Record the request under `key` as the context's actor and apply it now (after any earlier queued ones)
    unless the warehouse is busy (never waiting for its lock) or another request is being applied: then it stays
    `queued`.

    The same key again: the stored request, nothing decided twice (RequestConflict for another body)."""
    key = (key or "").strip()
    if not KEY_PATTERN.fullmatch(key):
        raise RequestInvalid(f"idempotency key {key[:MAX_KEY_LENGTH]!r}: use 1 to {MAX_KEY_LENGTH} letters, digits, "
                             "'.', '_', ':' or '-' (a new uuid per decision)")
    path = desk_file(ctx.settings)
    stored, new = store.record_request(path, key, ctx.actor, month, request.canonical())
    if stored.state == "queued" and _APPLYING.acquire(blocking=False):
        try:
            _drain(replace(ctx, lock_wait_seconds=0), path, until=key)
        finally:
            _APPLYING.release()
        stored = store.get_request(path, key) or stored
    return SubmittedDecision(stored, replayed=not new)


def _warehouse_free(ctx: AppContext) -> bool:
    try:
        with ctx.connection():
            return True
    except WarehouseBusy:
        return False


def _rebuild(ctx: AppContext, path: Path) -> None:
    """One review_job run per month and user for the applied requests not rebuilt since (each run covers every
    decision recorded before it), as that user. Left pending while the warehouse is busy."""
    groups: dict[tuple[str, str], list[str]] = {}
    for stored in store.pending_rebuilds(path):
        groups.setdefault((stored.month, stored.username), []).append(stored.key)
    for (month, username), keys in groups.items():
        if not _warehouse_free(ctx):
            return
        run = review.rebuild_approved(replace(ctx, actor=username), month)
        store.finish_rebuild(path, keys, {"run_id": run.run_id, "success": run.success, "error": run.error})


def apply_queued(ctx: AppContext) -> list[SubmittedDecision]:
    """Apply every queued request in the order received, each as the user who sent it (the context gives the
    settings and the job runner; its actor is replaced), then rebuild the approved charges of the months decided
    (a review_job run per month and user). Stops at a busy warehouse; the rest wait for the next call. The
    requests applied or refused by this call. It never waits for the warehouse's lock."""
    ctx = replace(ctx, lock_wait_seconds=0)
    path = desk_file(ctx.settings)
    done: list[StoredRequest] = []
    if store.queued_requests(path):
        with _APPLYING:
            done = _drain(ctx, path)
    if store.pending_rebuilds(path) and _REBUILDING.acquire(blocking=False):  # runs apart: decisions never wait
        try:
            _rebuild(ctx, path)
        finally:
            _REBUILDING.release()
    return [decision_status(ctx, d.key) or SubmittedDecision(d) for d in done]


def decision_status(ctx: AppContext, key: str) -> SubmittedDecision | None:
    """A request by its key (None if unknown): its state and outcome, read from the desk's file alone."""
    stored = store.get_request(desk_file(ctx.settings), key)
    return SubmittedDecision(stored) if stored else None


def queued_decisions(ctx: AppContext, month: str | None = None) -> list[SubmittedDecision]:
    """The requests waiting for the warehouse (of one month, or all), oldest first."""
    return [SubmittedDecision(s) for s in store.queued_requests(desk_file(ctx.settings), month)]
