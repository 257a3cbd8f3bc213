"""A key written twice in the config is refused, naming the key and both lines (issue 18, point 13): YAML would
keep the last value silently, so `dev_mode: true` followed by `dev_mode: false` would mean real email."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import ConfigError, load_config, load_schedule_settings
from ocb_pipelines.core.yaml_strict import DuplicateKeyError, safe_load_unique

REPO = Path(__file__).resolve().parents[2]


def _with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_dev_mode_twice_is_refused_with_key_and_lines(tmp_path):
    path = _with(tmp_path, "dev_mode: true\ncurrency: USD\ndev_mode: false\n")
    with pytest.raises(ConfigError, match=r"config.yaml: line 3: key 'dev_mode' is written twice \(lines 1 and 3\)"):
        load_config(path)


@pytest.mark.parametrize(("text", "key", "lines"), [
    ("smtp:\n  host: a\n  port: 25\n  port: 587\n", "smtp.port", "3 and 4"),
    ("imports:\n  known_sources:\n    - name: aws\n      pattern: a\n      name: gcp\n",
     "imports.known_sources[0].name", "3 and 5"),
    ("review:\n  flag_patterns: []\nreview:\n  fund_org_patterns: []\n", "review", "1 and 3"),
    ("imports:\n  known_sources:\n    - {name: aws, fund_org: A-1, fund_org: B-2}\n",
     "imports.known_sources[0].fund_org", "3 and 3"),
], ids=["nested", "in-a-list", "whole-section", "flow-style"])
def test_duplicates_anywhere_are_refused(tmp_path, text, key, lines):
    with pytest.raises(ConfigError, match=re.escape(f"key '{key}' is written twice (lines {lines})")):
        load_config(_with(tmp_path, text))


def test_merge_keys_and_overrides_are_not_duplicates():
    text = "base: &b {port: 25, host: a}\nsmtp:\n  <<: *b\n  port: 587\nother:\n  <<: *b\n"
    assert safe_load_unique(text)["smtp"] == {"port": 587, "host": "a"}
    with pytest.raises(DuplicateKeyError, match=r"'base\.port'"):
        safe_load_unique("base: &b {port: 25, port: 26}\nsmtp:\n  <<: *b\n")


def test_the_schedule_loader_refuses_them_too(tmp_path):
    path = _with(tmp_path, "schedule:\n  hour: 6\n  hour: 7\n")
    with pytest.raises(ConfigError, match=r"key 'schedule.hour' is written twice"):
        load_schedule_settings(path)


def test_the_cli_refuses_in_one_line_and_sources_add_leaves_the_file_alone(workdir, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dagster_home"))
    config = workdir / "config.yaml"
    shutil.copy(REPO / "config.example.yaml", config)
    text = config.read_text(encoding="utf-8") + "dev_mode: false\n"  # the example says dev_mode: true
    config.write_text(text, encoding="utf-8")
    first = text.splitlines().index("dev_mode: true                 # emails are written to output.email_dir "
                                    "instead of being sent") + 1
    result = CliRunner().invoke(cli, ["periods", "list", "-c", str(config)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"key 'dev_mode' is written twice (lines {first} and {len(text.splitlines())})" in result.stderr
    added = CliRunner().invoke(cli, ["sources", "add", "lab", "--fund-org", "RCIT-900030", "-c", str(config)])
    assert added.exit_code == 1 and "'dev_mode' is written twice" in added.stderr
    assert config.read_text(encoding="utf-8") == text
    config.write_text(text.removesuffix("dev_mode: false\n"), encoding="utf-8")  # fixed: ruamel's edit still works
    added = CliRunner().invoke(cli, ["sources", "add", "lab", "--fund-org", "RCIT-900030", "-c", str(config)])
    assert added.exit_code == 0, added.output
    assert load_config(config).source("lab").fund_org == "RCIT-900030"
