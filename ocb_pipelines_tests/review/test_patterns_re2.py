"""Issue 18.4: a pattern from the config meets values in RE2, so no pattern can hang a command that holds the
write lock. `(a+)+$` against `aaaa...a!` backtracks for ever in Python's `re`; each check runs in a real
subprocess with a generous timeout, so a regression fails the test instead of hanging the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from ocb_pipelines.core.config import ConfigError, load_config
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH
from .test_sheets import _fill

CATASTROPHIC = "(a+)+$"
EVIL = "a" * 5000 + "!"  # Python's re would need about 2**5000 steps


def _with_fund_patterns(settings, patterns: list[str]):
    path = settings.config_path
    data = yaml.safe_load(path.read_text())
    data["review"]["fund_org_patterns"] = patterns
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def _ocb(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OCB_ACTOR": "tester"}
    return subprocess.run([sys.executable, "-m", "ocb_pipelines.cli.main", *args, "-c", str(settings.config_path)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_review_correct_with_a_catastrophic_fund_pattern_finishes(settings, month):
    settings = _with_fund_patterns(settings, [CATASTROPHIC])
    refused = _ocb(settings, "review", "correct", "-p", MONTH, "--id", month["nofund"], "--set-fund", EVIL,
                   "--note", "fund from the grants office", "--no-rebuild")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not match review.fund_org_patterns" in refused.stdout + refused.stderr
    accepted = _ocb(settings, "review", "correct", "-p", MONTH, "--id", month["nofund"], "--set-fund", "A" * 5000,
                    "--note", "fund from the grants office", "--no-rebuild")  # matched ignoring case, as in DuckDB
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT fund_org FROM review_decisions").fetchall() == [("A" * 5000,)]


def test_review_sheet_with_a_catastrophic_fund_pattern_finishes(settings, month):
    settings = _with_fund_patterns(settings, [CATASTROPHIC])
    sheet = settings.config_path.parent / "sheet.csv"
    exported = _ocb(settings, "review", "export", "-p", MONTH, "-o", str(sheet))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    filled = _fill(sheet, sheet.with_name("filled.csv"), edits={"nofund": {
        "decision": "correct", "note": "fund from the grants office", "new_fund_org": EVIL}})
    applied = _ocb(settings, "review", "apply", str(filled), "--no-rebuild")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "does not match review.fund_org_patterns" in applied.stdout + applied.stderr


def test_journal_regexes_run_in_linear_time():
    code = textwrap.dedent(f"""
        from ocb_pipelines.ledger.journal import account_ok, fund_regex_groups, parse_fund_org
        evil = {EVIL!r}
        assert parse_fund_org(evil, "(?P<fund>(a+)+)$") is None
        assert not account_ok(evil, {CATASTROPHIC!r})
        assert parse_fund_org("ASTR-100234", "^(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)$") == {{
            "orgn": "ASTR", "fund": "100234"}}
        assert fund_regex_groups("(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)-(?P<activity>.*)") == (
            "orgn", "fund", "activity")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("key", "pattern"), [
    ("review.fund_org_patterns", r"^(A)\1$"),          # backreference
    ("review.flag_patterns", r"(?<=test)-sandbox"),    # lookbehind
    ("journal.fund_org_regex", r"^(?P<fund>\d+)(?=-)"),  # lookahead
    ("journal.account_code_regex", r"(x)\1"),
])
def test_config_refuses_patterns_re2_cannot_run_naming_the_key(tmp_path, key, pattern):
    section, name = key.split(".")
    value = [pattern] if name.endswith("patterns") else pattern
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({section: {name: value}}))
    with pytest.raises(ConfigError, match=rf"{key}.*invalid regular expression.*RE2") as caught:
        load_config(tmp_path / "c.yaml")
    assert "Traceback" not in str(caught.value)
