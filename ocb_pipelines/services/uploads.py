"""Files uploaded through the desk: each batch saved in a folder of its own under `<data>/uploads/`, each file
under a sanitised name, then imported by the same services as the CLI, as the signed-in user: FOCUS files (CSV,
CSV.gz, Parquet) as `ocb ingest` imports them, filled review sheets as `ocb review apply` applies them (a CSV
whose first line is the sheet's marker or whose header starts with charge_id is a sheet).

A name sent by a browser is never used as a path: directories are stripped, a `..` refuses the file, and only
letters, digits, `.`, `_` and `-` of the base name are kept (others become `_`), so an ordinary name such as
`aws_2025-01.csv` reaches the importer as it was, and its source and month are still read from it.
The folder stays after the import: the Dagster run that imported a file names it, so the run can be re-executed.
The batch's result is kept beside the files (result.json), for the page that shows it.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.jsonable import to_jsonable
from ocb_pipelines.review.sheets import SheetRefused, is_review_sheet
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.imports import import_files, plan_import
from ocb_pipelines.services.review import apply_review_sheet
from ocb_pipelines.warehouse.database import now_utc

UPLOADS_FOLDER = "uploads"
RESULT_FILE = "result.json"
UPLOAD_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")
MAX_NAME_LENGTH = 150


class UploadRefused(ValueError):
    """The upload cannot be taken at all (no file in it); the message says why."""


def uploads_dir(settings: OcbSettings) -> Path:
    """Where uploads are kept: beside the warehouse, outside the inbox (whose sensor would import them again)."""
    return settings.warehouse_path.parent / UPLOADS_FOLDER


def safe_upload_name(sent: str) -> str:
    """The name a file sent as `sent` is saved under; ValueError (the reason) when it cannot be saved at all."""
    parts = unicodedata.normalize("NFC", sent or "").replace("\\", "/").split("/")
    if ".." in (p.strip() for p in parts):
        raise ValueError(f"file name {sent!r} climbs out of its folder (..); refused, nothing of it was saved")
    base = parts[-1].strip() if parts else ""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    if not re.search(r"[A-Za-z0-9]", safe):
        raise ValueError(f"file name {sent!r} has no usable name (letters or digits); rename the file and upload it "
                         f"again")
    if len(safe) > MAX_NAME_LENGTH:  # keep the end: the extension (and .csv.gz) says how to read the file
        safe = safe[: MAX_NAME_LENGTH // 2] + "_" + safe[-(MAX_NAME_LENGTH // 2 - 1):]
    return safe


def _new_folder(settings: OcbSettings) -> tuple[str, Path]:
    upload_id = f"{now_utc():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    folder = uploads_dir(settings) / upload_id
    folder.mkdir(parents=True)
    return upload_id, folder


def _save(folder: Path, name: str, stream: BinaryIO) -> Path:
    """Copy the stream into `folder/name`, never elsewhere and never over another file."""
    target = folder / name
    if target.resolve().parent != folder.resolve():  # a sanitised name cannot get here; this says it cannot
        raise ValueError(f"file name {name!r} would leave the upload folder; refused")
    with target.open("xb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    return target


def receive_uploads(ctx: AppContext, uploads: Sequence[tuple[str, BinaryIO]]) -> dict[str, Any]:
    """Save, then import the batch as `ctx.actor`: FOCUS files through plan_import/import_files (one result per
    file, refusals exactly as `ocb ingest` words them), review sheets through apply_review_sheet (the signed-in
    user is the reviewer). The result (JSON-ready, money as exact text) is saved as result.json and returned."""
    if not uploads:
        raise UploadRefused("no file in the upload: choose or drop at least one file")
    upload_id, folder = _new_folder(ctx.settings)
    refused: list[dict[str, Any]] = []
    saved: list[Path] = []
    renamed: dict[str, str] = {}
    for sent, stream in uploads:
        try:
            name = safe_upload_name(sent)
            if any(p.name.lower() == name.lower() for p in saved):
                raise ValueError(f"{name}: two files of this name in one upload; upload them one at a time")
            saved.append(_save(folder, name, stream))
        except ValueError as exc:
            refused.append({"file": sent, "status": ["refused"], "errors": [str(exc)]})
            continue
        if name != sent:
            renamed[name] = sent
    sheets = [p for p in saved if p.name.lower().endswith(".csv") and is_review_sheet(p)]
    focus = [p for p in saved if p not in sheets]
    result: dict[str, Any] = {"upload_id": upload_id, "actor": ctx.actor, "received_at": now_utc(),
                              "renamed": renamed, "refused": refused, "import": None, "sheets": []}
    if focus:
        result["import"] = import_files(ctx, plan_import(ctx, focus))
    for sheet in sheets:
        result["sheets"].append(_apply_sheet(ctx, sheet))
    result["ok"] = not refused and (result["import"] is None or result["import"]["ok"]) and all(
        s["ok"] for s in result["sheets"])
    result = to_jsonable(result)
    (folder / RESULT_FILE).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def _apply_sheet(ctx: AppContext, path: Path) -> dict[str, Any]:
    """A sheet applied as the signed-in user, or its refusal in `ocb review apply`'s words."""
    try:
        applied = apply_review_sheet(ctx, path, signed_in=True)
    except SheetRefused as exc:
        headline = str(exc).splitlines()[0]
        return {"file": path.name, "status": "refused", "ok": False, "errors": [headline, *exc.problems]}
    result, rebuild = applied.result, applied.rebuild
    entry = {"file": result.file_name, "status": result.status, "ok": applied.ok, "period": result.period,
             "reviewer": result.reviewer, "message": result.message, "decisions": len(result.decision_ids),
             "run": None if rebuild is None else {"run_id": rebuild.run_id, "success": rebuild.success}, "errors": []}
    if not applied.ok and rebuild is not None:
        entry["errors"] = [f"sheet applied, but rebuilding charges_approved failed: {rebuild.error}"]
    return entry


def upload_result(settings: OcbSettings, upload_id: str) -> dict[str, Any] | None:
    """The saved result of the upload `upload_id`; None when there is no such upload (or the id is not one)."""
    if not UPLOAD_ID.fullmatch(upload_id):
        return None
    path = uploads_dir(settings) / upload_id / RESULT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
