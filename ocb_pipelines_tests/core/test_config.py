from pathlib import Path

import pytest

from ocb_pipelines.core.config import ConfigError, expand_env, load_config


def test_example_config_loads_with_paths_relative_to_its_folder(workdir: Path):
    settings = load_config(workdir / "config.yaml")
    assert settings.database.path == workdir / "data" / "warehouse.duckdb"
    assert settings.inbox_dir == workdir / "data" / "inbox"
    assert settings.output.pdf_dir == workdir / "data" / "output" / "statements"
    assert settings.dagster_home == workdir / "data" / "dagster_home"
    assert settings.source("AWS").fund_org == "RCIT-900001"
    assert settings.currency.code == "USD" and settings.currency.symbol == "$"


def test_missing_config_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"configuration file not found.*config\.example\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_key_names_the_key(tmp_path: Path):
    (tmp_path / "c.yaml").write_text("tag_maping:\n  pi_email: pi\n")
    with pytest.raises(ConfigError, match="tag_maping"):
        load_config(tmp_path / "c.yaml")


def test_invalid_regex_is_refused(tmp_path: Path):
    (tmp_path / "c.yaml").write_text("review:\n  flag_patterns: ['(unclosed']\n")
    with pytest.raises(ConfigError, match=r"review.flag_patterns.*invalid regular expression"):
        load_config(tmp_path / "c.yaml")


def test_env_expansion_and_defaults(tmp_path: Path):
    (tmp_path / "c.yaml").write_text(
        "smtp:\n  host: ${SMTP_HOST}\n  password: ${SMTP_PASS:-}\n  port: 2525\n"
        "email:\n  from_address: ${FROM:-billing@example.edu}\n"
    )
    settings = load_config(tmp_path / "c.yaml", environ={"SMTP_HOST": "mail.example.edu"})
    assert settings.smtp.host == "mail.example.edu" and settings.smtp.password == ""
    assert settings.email.from_address == "billing@example.edu"
    assert "password" not in repr(settings.smtp)


def test_unset_env_var_names_variable_and_key(tmp_path: Path):
    (tmp_path / "c.yaml").write_text("smtp:\n  host: ${OCB_TEST_UNSET_HOST}\n")
    with pytest.raises(ConfigError, match=r"smtp.host.*OCB_TEST_UNSET_HOST"):
        load_config(tmp_path / "c.yaml", environ={})


def test_unset_smtp_secret_loads_empty_and_fails_when_needed(tmp_path: Path):
    (tmp_path / "c.yaml").write_text("smtp:\n  host: mail\n  password: ${OCB_TEST_UNSET_VAR}\n")
    settings = load_config(tmp_path / "c.yaml", environ={})
    assert settings.smtp.password == "" and settings.unset_env == {"smtp.password": "OCB_TEST_UNSET_VAR"}
    settings.require_env("smtp.username")  # not from an unset variable: fine
    with pytest.raises(ConfigError, match=r"smtp.password: environment variable \$\{OCB_TEST_UNSET_VAR\} is not set"):
        settings.require_env("smtp.username", "smtp.password")


def test_openchargeback_currency_symbol_is_accepted(tmp_path: Path):
    (tmp_path / "c.yaml").write_text('currency: "€"\n')
    settings = load_config(tmp_path / "c.yaml")
    assert (settings.currency.code, settings.currency.symbol) == ("EUR", "€")


def test_not_a_mapping_and_bad_yaml(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("a: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "b.yaml")


def test_expand_env_recurses_lists():
    assert expand_env({"a": ["${X}", 1]}, {"X": "y"}) == {"a": ["y", 1]}
