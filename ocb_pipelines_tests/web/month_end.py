"""The month end for the month, statements and journal pages' tests: the prepared desk's January with its pending
charges decided and the month closed, and a reader for the pages' tables.

Closing costs a Dagster run (the close rebuilds the approved charges), so each test process closes January once
(`closed_project`) and the tests copy that project, or read a module's copy they do not change.

Decisions: the charge matching the review pattern (`test-box`, $9.99) is approved; every other pending charge
(2 ownerless, 2 bad funds, 1 hostile without a fund: $54.01) is rejected. Ada's statement then bills $184.68
and Grace's $80.15.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import load_config
from ocb_pipelines.services import periods, review
from ocb_pipelines_tests.web.conftest import MONTH, Desk

APPROVED = Decimal("264.83")
REJECTED = Decimal("54.01")
ADA_BILLED = Decimal("184.68")
GRACE_BILLED = Decimal("80.15")
PATTERN = "pattern_match:^test-"

_closed: dict[Path, Path] = {}


def decide_pending(ctx, month: str = MONTH) -> None:
    """Approve the pattern's charge and reject the rest; the close rebuilds the approved charges after."""
    review.decide_charges(ctx, month, "approve", "a real workload named test-box", reason=PATTERN, rebuild=False)
    review.decide_charges(ctx, month, "reject", "no owner or no valid fund", everything=True, rebuild=False)


@contextmanager
def dagster_home(root: Path) -> Iterator[None]:
    """$DAGSTER_HOME at the project's instance while the block runs (a module's fixture has no monkeypatch)."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(root / "data" / "dagster_home")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def closed_project(desk_template: Path, tmp_path_factory) -> Path:
    """The prepared project with January decided and closed by ada (built once per test process)."""
    if desk_template not in _closed:
        root = tmp_path_factory.mktemp("closed-january") / "project"
        shutil.copytree(desk_template, root)
        with dagster_home(root):
            ctx = app_context(load_config(root / "config.yaml"), actor="ada", trigger="desk")
            decide_pending(ctx)
            periods.close_period(ctx, MONTH, "closed for the tests")
        _closed[desk_template] = root
    return _closed[desk_template]


def copy_desk(source: Path, target: Path) -> Desk:
    """A copy of a prepared project (its own warehouse, users and Dagster home); set $DAGSTER_HOME to it."""
    shutil.copytree(source, target)
    return Desk(target, load_config(target / "config.yaml"))


class _Tables(HTMLParser):
    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.depth, self.rows, self.cell = table_id, 0, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of the table with this id, row by row (the header row first)."""
    parser = _Tables(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} on the page"
    return parser.rows
