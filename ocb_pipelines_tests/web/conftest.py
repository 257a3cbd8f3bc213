"""A prepared desk for the web tests: a real warehouse with an open month to review, and three users.

The month is imported once per test process through the application layer (real Dagster runs), then each test
gets its own copy of the project folder (warehouse, desk.sqlite, Dagster home), so tests never share state and
the import cost is paid once per xdist worker.

January 2025 (`MONTH`), source aws, 12 lines: 5 good (two PIs), 2 without a PI (ownerless), 2 with a malformed
fund, 1 matching the review pattern `^test-`, 1 with hostile tag values (`<script>`, a formula, `../`) and no
fund, and 1 on storage. February holds 1 good line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.services import desk_users
from ocb_pipelines.services.imports import import_files, plan_import
from ocb_pipelines.web.app import create_app
from ocb_pipelines.web.settings import DeskSettings
from ocb_pipelines_tests.conftest import GOOD_TAGS, REPO, focus_row, write_focus

MONTH = "2025-01"
PASSWORD = "correct-horse-9"
USERS = {"ada": "admin", "rita": "reviewer", "vic": "viewer"}
OTHER_PI = {**GOOD_TAGS, "pi_email": "grace.hopper@example.edu", "project_id": "navy-cobol", "fund_org": "NAVY-200001"}
HOSTILE = {"pi_email": "<script>alert(1)</script>@example.edu", "project_id": "=HYPERLINK(\"http://x\")",
           "cost_center": "../../etc/passwd"}


def january_rows() -> list[dict]:
    no_pi = {k: v for k, v in GOOD_TAGS.items() if k != "pi_email"}
    return [
        focus_row(billed="100.00", ResourceId="i-good-1"),
        focus_row(billed="50.25", ResourceId="i-good-2"),
        focus_row(billed="20.00", ResourceId="i-good-3", ServiceName="Amazon S3"),
        focus_row(billed="75.10", ResourceId="i-grace-1", tags=OTHER_PI),
        focus_row(billed="5.05", ResourceId="i-grace-2", tags=OTHER_PI),
        focus_row(billed="12.34", ResourceId="i-nopi-1", tags=no_pi),
        focus_row(billed="7.66", ResourceId="i-nopi-2", tags=no_pi),
        focus_row(billed="30.00", ResourceId="i-fund-1", tags={**GOOD_TAGS, "fund_org": "bad fund"}),
        focus_row(billed="3.00", ResourceId="i-fund-2", tags={**GOOD_TAGS, "fund_org": "ASTR-12"}),
        focus_row(billed="9.99", ResourceId="i-test-1", ResourceName="test-box"),
        focus_row(billed="1.01", ResourceId="i-hostile", tags=HOSTILE),
    ]


@dataclass
class Desk:
    """One test's project folder and what it takes to talk to its desk."""

    root: Path
    settings: OcbSettings

    def app(self, **desk_overrides):
        desk = DeskSettings.from_settings(self.settings)
        if desk_overrides:
            desk = DeskSettings(**{**desk.__dict__, **desk_overrides})
        return create_app(self.settings, desk)

    def client(self, user: str | None = None, **desk_overrides) -> TestClient:
        """A client of this desk, signed in as `user` (through the login form) when given."""
        client = TestClient(self.app(**desk_overrides), base_url="http://127.0.0.1")
        if user:
            login(client, user)
        return client

    def context(self, actor: str = "test"):
        return app_context(self.settings, actor=actor, trigger="desk")


@contextmanager
def holding_the_warehouse(path: Path) -> Iterator[None]:
    """Another process holds DuckDB's write lock on `path` (as an import does) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(client: TestClient, user: str, password: str = PASSWORD) -> None:
    page = client.get("/login")
    answer = client.post("/login", data={"username": user, "password": password, "csrf_token": csrf_of(page.text),
                                         "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def csrf(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token, read from a page as a browser would."""
    return csrf_of(client.get(path).text)


def build_desk_template(tmp_path_factory) -> Path:
    """The prepared project (the `desk_template` session fixture of ocb_pipelines_tests/conftest.py: one per
    test process, shared by the web and the browser tests)."""
    root = tmp_path_factory.mktemp("desk-template")
    shutil.copy(REPO / "config.example.yaml", root / "config.yaml")
    (root / "data" / "inbox").mkdir(parents=True)
    settings = load_config(root / "config.yaml")
    import os

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(root / "data" / "dagster_home")
    try:
        aws = write_focus(root / "aws_2025-01.csv", january_rows())
        storage = write_focus(root / "storage_2025-01.csv", [focus_row(billed="4.44", ResourceId="vol-1",
                                                                       ServiceName="Research Storage")])
        feb = write_focus(root / "aws_2025-02.csv", [focus_row("2025-02", billed="8.88")])
        ctx = app_context(settings, actor="setup")
        for files, source in (([aws, feb], "aws"), ([storage], "storage")):
            summary = import_files(ctx, plan_import(ctx, files, source=source))
            assert summary["ok"], summary
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    for name, role in USERS.items():
        desk_users.add_user(settings, name, role, PASSWORD, display_name=name.title())
    return root


@pytest.fixture
def desk(desk_template: Path, tmp_path: Path, monkeypatch) -> Desk:
    """A fresh copy of the prepared project for this test (its own warehouse, users and Dagster home)."""
    root = tmp_path / "project"
    shutil.copytree(desk_template, root)
    monkeypatch.setenv("DAGSTER_HOME", str(root / "data" / "dagster_home"))
    return Desk(root, load_config(root / "config.yaml"))
