"""The imports page: uploads imported as the signed-in admin with the CLI's refusals, sanitised file names, review
sheets applied with the signed-in user as reviewer, and the import history."""

from __future__ import annotations

import csv
import gc
import io
import re

import dagster as dg
import pytest

from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines.services.import_catalog import import_history
from ocb_pipelines.services.review import export_review_sheet, review_queue
from ocb_pipelines.services.uploads import safe_upload_name, uploads_dir
from ocb_pipelines_tests.conftest import focus_row, write_focus
from ocb_pipelines_tests.web.conftest import MONTH, csrf, january_rows
from ocb_pipelines_tests.web.month_end import closed_project, copy_desk


def upload(client, files: list[tuple[str, bytes]]):
    """POST the files as the page's form does (multipart, the session's CSRF token), following the redirect."""
    return client.post("/imports", data={"csrf_token": csrf(client, "/imports")},
                       files=[("files", (name, body, "application/octet-stream")) for name, body in files])


def test_an_upload_imports_good_files_as_the_admin_and_refuses_a_bad_amount_like_the_cli(desk, tmp_path):
    good = write_focus(tmp_path / "aws_2025-03.csv", [focus_row("2025-03", billed="40.00", ResourceId="i-march-1"),
                                                      focus_row("2025-03", billed="2.50", ResourceId="i-march-2")])
    bad = write_focus(tmp_path / "hpc_2025-03.csv", [focus_row("2025-03", billed="1.00"),
                                                     focus_row("2025-03", billed="12.x5", ResourceId="i-bad")])
    client = desk.client("ada")
    page = upload(client, [(good.name, good.read_bytes()), (bad.name, bad.read_bytes())])
    assert page.status_code == 200 and re.search(r"/imports/[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$", str(page.url))
    html = page.text
    assert "By ada at" in html and "Not every file went in" in html
    assert re.search(r"aws_2025-03\.csv</th>\s*<td>imported", html) and "$42.50" in html
    # the CLI's refusal (ocb ingest prints these lines under REFUSED): file, row, column and value
    refusal = re.search(r"hpc_2025-03\.csv</th>\s*<td colspan=\"6\"><span class=\"error\">REFUSED</span>\s*"
                        r"<ul class=\"wrap\">(.*?)</ul>", html, re.S)
    assert refusal, html
    lines = re.findall(r"<li>([^<]*)</li>", refusal.group(1))
    assert lines == [
        "hpc_2025-03.csv: refused by the FOCUS structure check; nothing was imported",
        "hpc_2025-03.csv: row 2 (line 3), column BilledCost, value &#39;12.x5&#39;: not a FOCUS decimal number "
        "(e.g. 12.50, -3, 3.5E-7)",
        "hpc_2025-03.csv: row 2 (line 3), column EffectiveCost, value &#39;12.x5&#39;: not a FOCUS decimal number "
        "(e.g. 12.50, -3, 3.5E-7)",
    ]

    ctx = desk.context()
    history = {(e["file_name"], e["billing_month"]): e for e in import_history(ctx).entries}
    assert history[("aws_2025-03.csv", "2025-03")]["imported_by"] == "ada"
    assert not any(name == "hpc_2025-03.csv" for name, _ in history)  # nothing of the refused file
    assert review_queue(ctx, "2025-03", status="all").billed_total == 42.5
    (event,) = audit_events(ctx, action="import", subject="aws_2025-03.csv").events
    assert event["actor"] == "ada"
    run = dg.DagsterInstance.get().get_run_by_id(event["run_id"])
    assert run.tags["ocb/actor"] == "ada" and run.tags["ocb/trigger"] == "desk"

    listing = client.get("/imports").text  # the history: newest first, with its run
    assert listing.index("aws_2025-03.csv") < listing.index("aws_2025-01.csv")
    assert f'/runs/{event["run_id"]}"' in listing
    assert history[("aws_2025-03.csv", "2025-03")]["file_sha256"][:12] in listing


def test_an_upload_named_with_dot_dot_writes_nothing_outside_its_folder(desk):
    before = {p for p in desk.root.parent.rglob("*")}
    page = upload(desk.client("ada"), [("../../evil.csv", b"BilledCost\n1\n"), ("..\\evil2.csv", b"x\n")])
    assert page.status_code == 200
    assert "climbs out of its folder" in page.text and "../../evil.csv" in page.text
    created = {p for p in desk.root.parent.rglob("*")} - before
    (folder,) = [p for p in created if p.parent == uploads_dir(desk.settings)]
    assert {p.relative_to(folder).as_posix() for p in created if folder in p.parents} == {"result.json"}
    assert created <= {folder, folder.parent, *folder.iterdir()}
    assert not [p for p in desk.root.parent.rglob("evil*")]


@pytest.mark.parametrize(("sent", "saved"), [
    ("aws_2025-01.csv", "aws_2025-01.csv"),
    ("C:\\Users\\ada\\Desktop\\aws 2025-01.csv.gz", "aws_2025-01.csv.gz"),
    ("exports/azure_2025-01.parquet", "azure_2025-01.parquet"),
    (".hidden<script>.csv", "hidden_script_.csv"),
])
def test_upload_names_keep_only_the_base_names_safe_characters(sent, saved):
    assert safe_upload_name(sent) == saved


@pytest.mark.parametrize("sent", ["../x.csv", "a/../../x.csv", "..", "", "/", "***"])
def test_upload_names_that_climb_or_say_nothing_are_refused(sent):
    with pytest.raises(ValueError, match=r"climbs out|no usable name"):
        safe_upload_name(sent)


def test_only_an_admin_may_upload(desk):
    for user in ("vic", "rita"):
        client = desk.client(user)
        assert "Only an admin can import files" in client.get("/imports").text
        answer = upload(client, [("aws_2025-03.csv", b"x\n")])
        assert answer.status_code == 403
    ada = desk.client("ada")
    no_token = ada.post("/imports", files=[("files", ("aws_2025-03.csv", b"x\n", "text/csv"))])
    assert no_token.status_code == 403
    gc.collect()  # a refused upload's spooled files were closed (an unclosed one warns here, failing the test)
    assert not uploads_dir(desk.settings).exists()  # nothing saved for any of them


def charge_of(desk, resource_id: str) -> dict:
    queue = review_queue(desk.context(), MONTH, status="all")
    (charge,) = [c for c in queue.charges if c["resource_id"] == resource_id]
    return charge


def filled_sheet(desk, reviewer: str, resource_id: str) -> tuple[str, bytes]:
    """The month's review sheet, exported by the service, with one charge approved."""
    sheet = export_review_sheet(desk.context(), MONTH, output=desk.root / "sheet.csv", reviewer=reviewer)
    rows = list(csv.reader(io.StringIO(sheet.path.read_text(encoding="utf-8"))))
    header = next(r for r in rows if r and r[0] == "charge_id")
    line = next(r for r in rows if len(r) == len(header) and r[header.index("resource_id")] == resource_id)
    line[header.index("decision")], line[header.index("note")] = "approve", "checked with the PI"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return f"review_{MONTH}.csv", out.getvalue().encode()


def test_a_review_sheet_naming_someone_else_is_refused_with_the_clis_message(desk):
    page = upload(desk.client("ada"), [filled_sheet(desk, "rita", "i-test-1")])
    assert f"review sheet review_{MONTH}.csv refused; nothing was applied:" in page.text
    assert "column reviewer, value &#39;rita&#39;: the sheet names another reviewer than ada" in page.text
    assert charge_of(desk, "i-test-1")["review_status"] == "pending"


def test_a_review_sheet_is_applied_with_the_admin_as_reviewer(desk):
    page = upload(desk.client("ada"), [filled_sheet(desk, "", "i-test-1")])
    assert "1 decision(s) recorded for 2025-01 as ada" in page.text, page.text
    charge = charge_of(desk, "i-test-1")
    assert charge["review_status"] == "approved" and charge["decided_by"] == "ada"


def test_a_corrected_file_for_a_closed_month_shows_the_file_as_it_is_and_where_its_adjustment_waits(
        desk_template, tmp_path_factory, tmp_path, monkeypatch):
    desk = copy_desk(closed_project(desk_template, tmp_path_factory), tmp_path / "project")
    monkeypatch.setenv("DAGSTER_HOME", str(desk.root / "data" / "dagster_home"))
    rows = january_rows()
    rows[0] = focus_row(billed="110.00", ResourceId="i-good-1")  # the provider's restatement: 10.00 more
    corrected = write_focus(tmp_path / "aws_2025-01.csv", rows)
    html = upload(desk.client("ada"), [(corrected.name, corrected.read_bytes())]).text
    assert re.search(r"aws_2025-01\.csv</th>\s*<td>late", html), html
    assert "$324.40" in html and "1 ($10.00)" in html  # the file as it is, and its one line awaiting review
    assert re.search(r'Late for 2025-01: its 1 adjustment line\(s\)\s*await review in <a href="/months/2025-02">'
                     r"2025-02</a>", html), html
