"""`POST /api/v1/months/YYYY-MM/decisions`: decide charges from a script, exactly once per Idempotency-Key.

Body: `{"decision": "approve" | "reject" | "correct", "note": "why", "ids": [...]}` (those charges, all or none)
or `{"decision": ..., "note": ..., "filter": {"reason", "source", "pi", "project", "service", "text"}}` (every
pending charge matching it; `{}`: the whole queue), and for `correct` `"corrections": {"pi_email", "project_id",
"fund_org"}`. The `Idempotency-Key` header is required: the same key again answers the stored outcome and
decides nothing twice; the same key with another body is refused (409).

Answers: 200 applied (counts, exact money, what was left pending by cause, the rebuild run); 202 queued (the
warehouse is busy: applied in order when it is free; `GET .../decisions/KEY` tells when); 409 refused by the
month's state or a reused key; 422 a decision refused as a whole (nothing recorded); 400 a malformed request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ocb_pipelines.services import desk_decisions
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.page_helpers import path_month
from ocb_pipelines.web.routes.api import answer, failure
from ocb_pipelines.web.security import acting, desk_context, role

router = APIRouter(prefix="/api/v1", tags=["api"])
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
Reviewer = Annotated[DeskUser, Depends(acting("reviewer"))]
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _answer(submitted: desk_decisions.SubmittedDecision) -> JSONResponse:
    """The request's stored state as the API answers it, the status telling applied, queued or refused."""
    body = submitted.as_dict()
    if submitted.state == "queued":
        return answer({**body, "status_url": f"/api/v1/months/{body['month']}/decisions/{submitted.key}"}, 202)
    if submitted.state == "refused":
        result = submitted.result
        return failure(409 if result.get("refused") == "period" else 422, result.get("error", "refused"),
                       problems=result.get("problems", []), **body)
    return JSONResponse({"ok": bool(submitted.result.get("ok")), **body})  # ok: something decided, rebuilt


@router.post("/months/{month}/decisions")
async def api_decide(request: Request, user: Reviewer, month: str) -> JSONResponse:
    """Approve, reject or correct charges (by id, or every pending one matching a filter) as the signed-in user."""
    key = path_month(month)
    idempotency_key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not idempotency_key:
        raise HTTPException(400, f"the {IDEMPOTENCY_HEADER} header is required (a new uuid per decision), so a "
                                 "retried request never decides twice")
    try:
        payload: Any = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be a JSON object: {decision, note, ids | filter, corrections}") \
            from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "the body must be a JSON object: {decision, note, ids | filter, corrections}")
    try:
        wanted = desk_decisions.decision_request(payload)
        submitted = await run_in_threadpool(desk_decisions.submit_decision, desk_context(request, user), key,
                                            wanted, idempotency_key)
    except desk_decisions.RequestInvalid as exc:
        raise HTTPException(400, str(exc)) from None
    except desk_decisions.RequestConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return _answer(submitted)


@router.get("/months/{month}/decisions/{request_key}")
def api_decision_status(request: Request, user: Viewer, month: str, request_key: str) -> JSONResponse:
    """A decision request by its key: queued (202), applied or refused, with its outcome; read from the desk's file
    alone, so it answers while the warehouse is busy."""
    key = path_month(month)
    found = desk_decisions.decision_status(desk_context(request, user), request_key)
    if found is None or found.stored.month != key:
        raise HTTPException(404, f"no decision request {request_key!r} for billing month {key}")
    return _answer(found)
