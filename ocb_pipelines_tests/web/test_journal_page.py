"""The journal page: exporting a closed month's journal in each format as the signed-in admin, downloading each
export by its id (a balanced GL journal), the export history, and refusals."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

import pytest

from ocb_pipelines.services import journal
from ocb_pipelines_tests.web.conftest import MONTH, Desk, csrf
from ocb_pipelines_tests.web.month_end import APPROVED, closed_project, copy_desk, dagster_home, table

PAGE = f"/months/{MONTH}/journal"


@dataclass
class Exported:
    desk: Desk
    before: str  # the page before any export
    notices: dict[str, str]  # format -> the page its export redirected to


@pytest.fixture(scope="module")
def exported(desk_template, tmp_path_factory):
    """January closed, then its journal exported by ada through the page as gl (a run) and standard."""
    desk = copy_desk(closed_project(desk_template, tmp_path_factory), tmp_path_factory.mktemp("journal") / "p")
    with dagster_home(desk.root):
        client = desk.client("ada")
        before = client.get(PAGE).text
        notices = {}
        for fmt in ("gl", "standard"):
            answer = client.post(f"{PAGE}/export", data={"csrf_token": csrf(client, PAGE), "format": fmt},
                                 follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"] == PAGE, answer.text
            notices[fmt] = client.get(PAGE).text
        yield Exported(desk, before, notices)


@pytest.fixture
def closed(desk_template, tmp_path_factory, tmp_path, monkeypatch):
    desk = copy_desk(closed_project(desk_template, tmp_path_factory), tmp_path / "project")
    monkeypatch.setenv("DAGSTER_HOME", str(desk.root / "data" / "dagster_home"))
    return desk


def money(text: str) -> Decimal:
    return Decimal(text) if text.strip() else Decimal(0)


def test_each_format_can_be_exported_and_the_history_lists_every_export(exported):
    for fmt in journal.FORMATS:
        assert f'name="format" value="{fmt}"' in exported.before
    assert "No journal exported for 2025-01 yet." in exported.before
    assert "2025-01 gl journal written: export 1," in exported.notices["gl"]
    assert "2025-01 standard journal written: export 2, 7 line(s) from 7 charge(s)." in exported.notices["standard"]
    rows = table(exported.desk.client("vic").get(PAGE).text, "exports")
    assert [(r[0], r[2], r[3], r[4], r[5]) for r in rows[1:]] == [
        ("2", "ada", "standard", "written", "journal_standard_2025-01.csv"),
        ("1", "ada", "gl", "written", "journal_gl_2025-01.csv"),
    ]
    assert rows[2][8:11] == [f"${APPROVED}", f"${APPROVED}", f"${APPROVED}"]  # debits = credits = approved


def test_the_gl_journal_downloads_balanced(exported):
    answer = exported.desk.client("vic").get(f"{PAGE}/exports/1")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="journal_gl_2025-01_1.csv"'
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    debits, credits = (sum(money(r[side]) for r in lines) for side in ("Debit", "Credit"))
    assert debits == credits == APPROVED


def test_the_standard_layout_downloads_with_one_line_per_charge(exported):
    answer = exported.desk.client("vic").get(f"{PAGE}/exports/2")
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(lines) == 7 and sum(Decimal(r["amount"]) for r in lines) == APPROVED


def test_an_export_is_found_by_its_id_in_its_month(exported):
    client = exported.desk.client("vic")
    assert client.get(f"{PAGE}/exports/99").status_code == 404
    assert client.get("/months/2025-02/journal/exports/1").status_code == 404  # export 1 is January's
    assert client.get(f"{PAGE}/exports/..%2F..%2Fconfig.yaml").status_code == 404  # no such route: ids are numbers


def test_a_file_outside_the_journal_folder_or_changed_on_disk_is_not_served(closed, tmp_path):
    ctx = closed.context("ada")
    elsewhere = journal.export_journal_file(ctx, MONTH, "summary", str(tmp_path / "elsewhere" / "j.csv"))
    inside = journal.export_journal_file(ctx, MONTH, "openchargeback")
    client = closed.client("vic")
    answer = client.get(f"{PAGE}/exports/{elsewhere.export_id}")
    assert answer.status_code == 404 and "was written outside" in answer.text
    assert client.get(f"{PAGE}/exports/{inside.export_id}").status_code == 200
    with open(inside.file, "a", encoding="utf-8") as handle:
        handle.write("x,y\n")
    answer = client.get(f"{PAGE}/exports/{inside.export_id}")
    assert answer.status_code == 404 and "was changed on disk since it was recorded" in answer.text


def test_an_export_of_an_open_month_is_refused_in_the_services_words(desk):
    client = desk.client("ada")
    assert "close 2025-01</a> first" in client.get(PAGE).text
    answer = client.post(f"{PAGE}/export", data={"csrf_token": csrf(client, PAGE), "format": "standard"})
    assert answer.status_code == 409 and "2025-01 is open" in answer.text
    assert journal.export_history(desk.context(), MONTH) == []


@pytest.mark.parametrize("user", ["rita", "vic"])
def test_a_reviewer_or_a_viewer_gets_403_on_export(desk, user):
    client = desk.client(user)
    answer = client.post(f"{PAGE}/export", data={"csrf_token": csrf(client, PAGE), "format": "standard"})
    assert answer.status_code == 403 and "this needs the admin role" in answer.text
