"""Fixtures of the services tests: a closed month with approved charges, a config and DAGSTER_HOME in tmp_path."""

from __future__ import annotations

import pytest

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines_tests.statements.conftest import load_month, make_settings, month_rows


@pytest.fixture
def closed_month(tmp_path, monkeypatch) -> OcbSettings:
    settings = make_settings(tmp_path, monkeypatch)
    load_month(settings, month_rows())
    return settings
