"""OpenChargeback's own config.example.yaml (fixtures/openchargeback_config.example.yaml, a verbatim copy of
github.com/atmarx/OpenChargeback at 2fb6088) loads unchanged: unset secrets read as empty until they are needed,
`Azure Local` is a source, `currency: "$"` is USD, and its `web:`/`logging:` keys are reported once as having no
effect (but for web.secret_key and web.session_lifetime_hours, which the review desk reads). Through the real
CLI on a real DuckDB file, and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import ConfigError, OcbSettings, load_config
from ocb_pipelines.core.config_file import DESK_WEB_KEYS
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.statements.generate import generate_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.core.test_config_keys import MONTH, closed_month, flatten, model_keys, write_config
from ocb_pipelines_tests.delivery.conftest import Sink
from ocb_pipelines_tests.smtp import running_smtp

OCB_EXAMPLE = Path(__file__).parent / "fixtures" / "openchargeback_config.example.yaml"
IGNORED = ("logging.level", "logging.format", "logging.file", "web.enabled", "web.host", "web.port", "web.users",
           "web.password_requirements")  # web.secret_key and web.session_lifetime_hours: the review desk's
SECRETS = ("SMTP_USER", "SMTP_PASSWORD", "WEB_SECRET_KEY")


@pytest.fixture
def ocb_project(tmp_path, monkeypatch) -> Path:
    """A folder holding OpenChargeback's example as config.yaml, with none of its ${VAR}s set."""
    shutil.copy(OCB_EXAMPLE, tmp_path / "config.yaml")
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCB_ACTOR", "migration-tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    return tmp_path


def test_the_fixture_is_openchargebacks_file():
    text = OCB_EXAMPLE.read_text(encoding="utf-8")
    assert text.startswith("# OpenChargeback Configuration\n") and "name: Azure Local" in text
    assert "username: ${SMTP_USER}" in text and 'currency: "$"' in text


def test_openchargeback_example_loads_unchanged(ocb_project):
    settings = load_config(ocb_project / "config.yaml", environ={})
    assert (settings.currency.code, settings.currency.symbol) == ("USD", "$")
    assert settings.dev_mode is False and settings.smtp.host == "smtp.example.edu"
    assert (settings.smtp.username, settings.smtp.password) == ("", "")
    assert settings.unset_env == {"smtp.username": "SMTP_USER", "smtp.password": "SMTP_PASSWORD",
                                  "web.secret_key": "WEB_SECRET_KEY"}
    assert settings.warehouse_path == ocb_project / "instance" / "billing.db"
    assert settings.output.journal_dir == ocb_project / "instance" / "output" / "journals"
    local = settings.source("azure local")
    assert (local.name, local.pattern) == ("Azure Local", "azure-local")
    assert [s.name for s in settings.imports.known_sources] == ["AWS", "Azure", "Azure Local", "GCP", "HPC",
                                                                "OpenAI", "Storage"]
    assert (settings.tag_mapping.reference_1, settings.tag_mapping.reference_2) == ("grant_number", "request_id")
    assert settings.journal.template == "journal_gl.csv" and settings.ignored_keys == IGNORED
    with pytest.raises(ConfigError, match=r"smtp.username: environment variable \$\{SMTP_USER\} is not set.*"
                                          r"smtp.password: environment variable \$\{SMTP_PASSWORD\}"):
        settings.require_env("smtp.username", "smtp.password")


def test_every_openchargeback_key_is_used_or_reported():
    """Each key of its example is a key of our model (with an effect) or listed by ignored_keys, never both."""
    keys = flatten(yaml.safe_load(OCB_EXAMPLE.read_text(encoding="utf-8")))
    ours = set(model_keys())
    desk_keys = {f"web.{k}" for k in DESK_WEB_KEYS}
    settings = load_config(OCB_EXAMPLE, environ={})
    reported = settings.ignored_keys

    def ignored(key: str) -> bool:
        return any(key == r or key.startswith(f"{r}.") for r in reported)

    def used(key: str) -> bool:  # `currency: "$"` is our currency.code and currency.symbol; web.*: the desk's
        return key in ours or any(o.startswith(f"{key}.") for o in ours) or key in desk_keys

    unaccounted = [k for k in keys if not ignored(k) and not used(k)]
    assert not unaccounted, f"OpenChargeback keys neither used nor reported: {unaccounted}"
    assert [k for k in keys if ignored(k)] and all(k.split(".")[0] in ("web", "logging") for k in reported)


def test_the_cli_runs_on_it_and_notes_the_ignored_keys_once(ocb_project):
    path = write_focus_csv(ocb_project / "azure-local_2025-01.csv", [charge_row(resource="vm-local", billed="7.25")])
    runner = CliRunner()
    args = ["-c", str(ocb_project / "config.yaml")]
    result = runner.invoke(cli, ["ingest", "--init", str(path), "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["files"][0]["source"] == "azure local"
    assert summary["billed_total"] == "7.250000000000"
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"note: config.yaml: accepted for OpenChargeback compatibility, no effect here: "
                     f"{', '.join(IGNORED)} (docs/moving-from-openchargeback.md)"]
    assert (ocb_project / "instance" / "billing.db").is_file()  # its database.path, now a DuckDB warehouse
    status = runner.invoke(cli, ["sources", "sync-status", "--json", *args], catch_exceptions=False)
    (local,) = [s for s in json.loads(status.stdout)["sources"] if s["name"] == "Azure Local"]
    assert (local["files"], local["rows"], local["months"]) == (1, 1, [MONTH]) and local["last_import"]


def test_an_unset_smtp_secret_fails_at_send_time_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("OCB_TEST_UNSET_SMTP_PASSWORD", raising=False)
    sink = Sink()
    with running_smtp(sink) as port:
        settings = write_config(tmp_path, {"dev_mode": False, "smtp": {
            "host": "127.0.0.1", "port": port, "use_tls": False, "username": "billing-bot",
            "password": "${OCB_TEST_UNSET_SMTP_PASSWORD}"}})  # loads: the password is only needed to send
        closed_month(settings, [charge_row(resource="vm-a", billed="12.00")])
        with wh.connect(settings.warehouse_path) as con:
            generate_statements(con, settings, MONTH, workers=1)
        result = CliRunner().invoke(cli, ["send", "-p", MONTH, "-c", str(settings.config_path)])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "smtp.password: environment variable ${OCB_TEST_UNSET_SMTP_PASSWORD} is not set" in result.output
        assert sink.messages == []
        with wh.connect(settings.warehouse_path) as con:
            assert con.execute("SELECT count(*) FROM delivery_log").fetchall() == [(0,)]  # nothing attempted


@pytest.mark.parametrize(("symbol", "code"), [("$", "USD"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("₹", "INR"),
                                              ("CHF", "CHF"), ("R$", "BRL"), ("EUR", "EUR")])
def test_currency_symbols_map_to_a_code(tmp_path, symbol, code):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"currency": symbol}, allow_unicode=True), encoding="utf-8")
    settings = load_config(tmp_path / "c.yaml")
    assert (settings.currency.code, settings.currency.symbol) == (code, symbol)


def test_an_ambiguous_currency_symbol_asks_for_the_code(tmp_path):
    (tmp_path / "c.yaml").write_text('currency: "kr"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"currency: .*symbol 'kr' does not say which currency.*code: XXX"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("name", ["Azure Local", "HPC Cluster 2", "aws", "it_storage", "v1.2-x"])
def test_source_names_may_have_single_spaces(tmp_path, name):
    settings = OcbSettings.model_validate({"config_path": tmp_path / "c.yaml",
                                           "imports": {"known_sources": [{"name": name}]}})
    assert settings.source(name.upper()).pattern == name


@pytest.mark.parametrize("name", [" aws", "aws ", "a  b", "../etc", "a/b", "a\tb", ""])
def test_source_names_that_could_mislead_are_refused(tmp_path, name):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"imports": {"known_sources": [{"name": name}]}}))
    with pytest.raises(ConfigError, match=r"imports.known_sources.0.name"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("url", ["sqlite:///instance/billing.db", "postgresql://u@db/ocb", "postgres://db/x"])
def test_a_database_url_is_refused_with_what_to_write(tmp_path, url):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"database": {"path": url}}))
    with pytest.raises(ConfigError, match=r"database.path: .*is a database URL; the warehouse is a DuckDB file"):
        load_config(tmp_path / "c.yaml")
