"""`/imports`: upload FOCUS files and filled review sheets (drag and drop, or a plain multipart form), each
upload's result at `/imports/<upload id>`, and the import history.

The import itself runs in a worker thread (it runs Dagster jobs for a minute or more): the desk's other pages
keep answering meanwhile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from ocb_pipelines.core.billing_month import is_month_key
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.import_catalog import import_history
from ocb_pipelines.services.uploads import UploadRefused, receive_uploads, upload_result
from ocb_pipelines.web.security import acting, desk_context, role, settings_of
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
AdminActing = Annotated[DeskUser, Depends(acting("admin"))]
PAGE_SIZE = 50
FILE_FIELD = "files"


@router.get("/imports")
def imports_page(request: Request, user: Viewer, month: str = "", page: int = 1) -> Response:
    """The upload form (admins) and the import history, newest first, PAGE_SIZE entries a page."""
    month = month.strip()
    if month and not is_month_key(month):
        raise HTTPException(400, f"month {month!r} is not a billing month (YYYY-MM)")
    if page < 1:
        raise HTTPException(400, f"page {page} does not exist: pages start at 1")
    history = import_history(desk_context(request, user), month=month or None, limit=PAGE_SIZE,
                             offset=(page - 1) * PAGE_SIZE)
    query = {"month": month} if month else {}
    return render(request, "imports.html", {
        "title": "Imports", "history": history, "month": month, "page": page, "query": query,
        "pages": max(1, -(-history.total // PAGE_SIZE)), "file_field": FILE_FIELD,
    })


@router.post("/imports")
async def upload(request: Request, user: AdminActing) -> Response:
    """Save and import the uploaded files as the signed-in admin, then show the result (303)."""
    form = await request.form()
    try:
        files = [f for f in form.getlist(FILE_FIELD) if isinstance(f, UploadFile) and f.filename]
        ctx = desk_context(request, user)
        try:
            result = await run_in_threadpool(receive_uploads, ctx, [(f.filename or "", f.file) for f in files])
        except UploadRefused as exc:
            raise HTTPException(400, str(exc)) from None
    finally:
        await form.close()
    return RedirectResponse(f"/imports/{result['upload_id']}", status_code=303)


@router.get("/imports/{upload_id}")
def upload_page(request: Request, user: Viewer, upload_id: str) -> Response:
    """What one upload did, file by file, as it was reported when it ran."""
    result = upload_result(settings_of(request), upload_id)
    if result is None:
        raise HTTPException(404, f"no upload {upload_id!r}")
    return render(request, "upload_result.html", {"title": f"Upload {upload_id}", "r": result})
