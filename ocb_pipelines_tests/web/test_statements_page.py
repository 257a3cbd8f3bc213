"""The statements page: rendering a closed month's statements, previewing (inline PDF) and downloading them by id
under fixed names, sending the unsent ones, resending one PI with a required note, and the delivery log."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal

import pypdf
import pytest

from ocb_pipelines.services import deliveries
from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines.services.statements import month_statements
from ocb_pipelines_tests.web.conftest import MONTH, Desk, csrf
from ocb_pipelines_tests.web.month_end import ADA_BILLED, GRACE_BILLED, closed_project, copy_desk, dagster_home, table

ADA, GRACE = "ada.lovelace@example.edu", "grace.hopper@example.edu"
PAGE = f"/months/{MONTH}/statements"


@dataclass
class Rendered:
    desk: Desk
    before: str  # the page before rendering
    notice: str  # the page the render redirected to


@pytest.fixture(scope="module")
def rendered(desk_template, tmp_path_factory):
    """January closed, then its statements rendered by ada through the page (one run for the module)."""
    desk = copy_desk(closed_project(desk_template, tmp_path_factory), tmp_path_factory.mktemp("statements") / "p")
    with dagster_home(desk.root):
        client = desk.client("ada")
        before = client.get(PAGE).text
        answer = client.post(f"{PAGE}/render", data={"csrf_token": csrf_of_page(before)}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == PAGE, answer.text
        yield Rendered(desk, before, client.get(PAGE).text)


def csrf_of_page(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def ids(desk: Desk) -> dict[str, str]:
    """PI -> the id of their statement."""
    return {s["pi_email"]: s["statement_key"] for s in month_statements(desk.context(), MONTH)}


def test_admin_renders_the_closed_months_statements(rendered):
    assert "No statements rendered for 2025-01 yet." in rendered.before
    assert ">Render statements</button>" in rendered.before
    page = rendered.notice
    assert "2 statement(s) of 2025-01: rendered 2, unchanged 0, removed 0." in page
    rows = table(page, "statements")
    assert [r[:6] for r in rows[1:-1]] == [
        [ADA, "astro-survey", "ASTR-100234 (100.00%)", "$60.00", "-$124.68", "$184.68"],
        [GRACE, "navy-cobol", "NAVY-200001 (100.00%)", "$24.00", "-$56.15", "$80.15"],
    ]
    assert rows[-1][:4] == ["Total (2)", "$84.00", "-$180.83", "$264.83"]
    assert [r[6] for r in rows[1:-1]] == ["not sent", "not sent"]
    (event,) = audit_events(rendered.desk.context(), period=MONTH, action="statements_generate").events
    assert event["actor"] == "ada"


def test_preview_shows_the_pdf_inline_with_the_billed_amount(rendered):
    client = rendered.desk.client("vic")
    statement = ids(rendered.desk)[ADA]
    page = client.get(f"{PAGE}/{statement}")
    assert page.status_code == 200 and f'src="{PAGE}/{statement}/view/pdf"' in page.text
    pdf = client.get(f"{PAGE}/{statement}/view/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'inline; filename="{statement}.pdf"'
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert ADA in text and f"${ADA_BILLED}" in text


def test_statements_download_as_pdf_and_csv_under_fixed_names(rendered):
    client = rendered.desk.client("vic")
    statement = ids(rendered.desk)[GRACE]
    assert re.fullmatch(r"2025-01_grace-hopper-example-edu_navy-cobol_[0-9a-f]{12}", statement)
    pdf = client.get(f"{PAGE}/{statement}/download/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == f'attachment; filename="{statement}.pdf"'
    got = client.get(f"{PAGE}/{statement}/download/csv")
    assert got.status_code == 200 and got.headers["content-disposition"] == f'attachment; filename="{statement}.csv"'
    lines = list(csv.DictReader(io.StringIO(got.text)))
    billed = next(k for k in lines[0] if "billed" in k.lower())
    assert sum(Decimal(r[billed]) for r in lines) == GRACE_BILLED


@pytest.mark.parametrize("path", ["nope/download/pdf", "..%2F..%2Fconfig.yaml/download/pdf", "{id}/download/eml",
                                  "{id}/download/..%2F..%2F..%2Fconfig.yaml"])
def test_a_file_is_found_by_statement_id_never_by_a_path(rendered, path):
    answer = rendered.desk.client("vic").get(f"{PAGE}/{path.format(id=ids(rendered.desk)[ADA])}")
    assert answer.status_code == 404
    assert "dev_mode" not in answer.text


def test_send_unsent_then_resend_one_pi_needs_a_note(rendered):
    client = rendered.desk.client("ada")
    answer = client.post(f"{PAGE}/send", data={"csrf_token": csrf(client, PAGE)})
    assert answer.status_code == 200, answer.text
    assert "Sent: 2 email(s) attempted, 2 delivered." in answer.text
    assert [r[1:3] for r in table(answer.text, "deliveries")[1:]] == [[ADA, "written"], [GRACE, "written"]]
    outbox = rendered.desk.settings.output.email_dir / MONTH
    assert len(list(outbox.glob("*.eml"))) == 2

    refused = client.post(f"{PAGE}/resend", data={"csrf_token": csrf(client, PAGE), "pi": GRACE, "note": " "})
    assert refused.status_code == 400 and "a resend needs a note" in refused.text
    assert len(list(outbox.glob("*.eml"))) == 2

    answer = client.post(f"{PAGE}/resend", data={"csrf_token": csrf(client, PAGE), "pi": GRACE,
                                                  "note": "PI lost the first one"})
    assert "Resent to grace.hopper@example.edu: 1 email(s) attempted, 1 delivered." in answer.text
    log = deliveries.list_deliveries(rendered.desk.context(), MONTH)
    assert [(d["recipient"], d["resend"]) for d in log] == [(ADA, False), (GRACE, False), (GRACE, True)]
    assert table(answer.text, "deliveries")[-1][4] == "yes"
    assert len(list(outbox.glob("*.eml"))) == 3
    (event,) = audit_events(rendered.desk.context(), period=MONTH, action="statements_resend").events
    assert event["actor"] == "ada" and event["details"]["reason"] == "PI lost the first one"


@pytest.mark.parametrize("user", ["rita", "vic"])
def test_a_reviewer_or_a_viewer_gets_403_on_render_send_and_resend(desk, user):
    client = desk.client(user)
    token = csrf(client, PAGE)
    for action in ("render", "send", "resend"):
        answer = client.post(f"{PAGE}/{action}", data={"csrf_token": token, "pi": ADA, "note": "x"})
        assert answer.status_code == 403, action
    page = client.get(PAGE)
    assert page.status_code == 200 and "<form" not in page.text.split("<main")[1]  # no action offered
