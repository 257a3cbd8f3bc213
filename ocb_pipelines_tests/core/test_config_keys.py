"""Acceptance: every key of config.example.yaml is documented (docs/configuration.md) and has a test of its effect.

`KEY_TESTS` maps each key (dotted path; `[]` for list items) to the tests that change or rely on it and check
what it does. Most are in this file: each writes a config.yaml with the key changed, runs the real code
(DuckDB file, PDF read back with pypdf, .eml files, an SMTP server on 127.0.0.1, a Dagster instance in a temp
dir) and checks the observable effect. A key added to config.example.yaml without an entry here fails
`test_every_example_key_has_an_effect_test`.
"""

from __future__ import annotations

import email
import email.policy
import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner
from pypdf import PdfReader

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.ingest import service
from ocb_pipelines.ingest.importer import ImportRefused, import_file
from ocb_pipelines.ledger import journal as jr
from ocb_pipelines.ledger.export import export_journal
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.services.dagster_runs import prepare_dagster_home
from ocb_pipelines.statements.generate import generate_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.delivery.conftest import Sink
from ocb_pipelines_tests.ledger.helpers import group
from ocb_pipelines_tests.smtp import running_smtp

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yaml"
DOC = REPO / "docs" / "configuration.md"
MONTH = "2025-01"
HERE = "ocb_pipelines_tests/core/test_config_keys.py"


def flatten(node: Any, prefix: str = "") -> list[str]:
    """Dotted key paths of a parsed YAML tree; a list of mappings contributes `key[].field` paths."""
    if isinstance(node, dict):
        keys: list[str] = []
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            keys.extend(flatten(value, path))
        return keys
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        fields: list[str] = []
        for item in node:
            for key in flatten(item, f"{prefix}[]"):
                if key not in fields:
                    fields.append(key)
        return fields
    return [prefix]


def example_keys() -> list[str]:
    return flatten(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))


def model_keys(model: type | None = None, prefix: str = "") -> list[str]:
    """Dotted key paths of the pydantic model (what a config file may contain)."""
    from typing import get_args, get_origin

    from pydantic import BaseModel

    def model_in(annotation: Any) -> type | None:
        options = [a for a in (get_args(annotation) if get_origin(annotation) is not list else ()) or (annotation,)
                   if a is not type(None)]
        return next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)

    keys = []
    for name, field in (model or OcbSettings).model_fields.items():
        if name == "config_path":
            continue
        path = f"{prefix}.{name}" if prefix else name
        if get_origin(field.annotation) is list and model_in(get_args(field.annotation)[0]):
            keys.extend(model_keys(model_in(get_args(field.annotation)[0]), f"{path}[]"))
        elif model_in(field.annotation):
            keys.extend(model_keys(model_in(field.annotation), path))
        else:
            keys.append(path)
    return keys


def _t(name: str) -> str:
    return f"{HERE}::{name}"


KEY_TESTS: dict[str, list[str]] = {
    "dev_mode": [_t("test_month_end_follows_currency_email_output_and_journal_keys"),
                 _t("test_smtp_keys_reach_the_server"),
                 "ocb_pipelines_tests/delivery/test_delivery.py::test_dev_mode_writes_eml_files_once"],
    "currency.code": [_t("test_currency_code_flags_charges_in_other_currencies"),
                      "ocb_pipelines_tests/statements/test_statements.py::"
                      "test_pdf_shows_totals_discount_fund_shares_and_currency"],
    "currency.symbol": [_t("test_month_end_follows_currency_email_output_and_journal_keys"),
                        "ocb_pipelines_tests/statements/test_statements.py::"
                        "test_pdf_shows_totals_discount_fund_shares_and_currency"],
    **{f"schedule.{key}": ["ocb_pipelines_tests/periods/test_month_end.py::test_day_hour_and_timezone_set_the_cron"]
       for key in ("day_of_month", "hour", "timezone")},
    "schedule.send_emails": [
        "ocb_pipelines_tests/periods/test_month_end.py::test_send_emails_true_also_emails_the_statements",
        "ocb_pipelines_tests/periods/test_month_end.py::"
        "test_empty_queue_closes_the_month_and_produces_statements_and_journal_without_email"],
    "database.path": [_t("test_paths_database_dagster_home_inbox_and_review_dir")],
    "dagster_home": [_t("test_paths_database_dagster_home_inbox_and_review_dir")],
    "imports.inbox_dir": [_t("test_paths_database_dagster_home_inbox_and_review_dir")],
    "imports.max_errors_shown": [_t("test_max_errors_shown_caps_the_errors_listed")],
    "imports.known_sources[].name": [_t("test_known_sources_name_pattern_display_fund_and_account")],
    "imports.known_sources[].pattern": [_t("test_known_sources_name_pattern_display_fund_and_account")],
    "imports.known_sources[].display_name": [_t("test_known_sources_name_pattern_display_fund_and_account")],
    "imports.known_sources[].fund_org": [_t("test_known_sources_name_pattern_display_fund_and_account")],
    "imports.known_sources[].account_code": [_t("test_known_sources_name_pattern_display_fund_and_account"),
                                             "ocb_pipelines_tests/ledger/test_journal.py::"
                                             "test_account_fallback_chain"],
    **{f"tag_mapping.{field}": [_t("test_tag_mapping_chooses_the_tag_read_for_each_field")]
       for field in ("pi_email", "project_id", "fund_org", "cost_center", "account_code", "reference_1",
                     "reference_2")},
    "review.review_dir": [_t("test_paths_database_dagster_home_inbox_and_review_dir"),
                          "ocb_pipelines_tests/review/test_sheets.py::test_sensor_plans_one_run_per_filled_sheet"],
    "review.flag_patterns": [_t("test_review_patterns_flag_charges")],
    "review.fund_org_patterns": [_t("test_review_patterns_flag_charges"),
                                 "ocb_pipelines_tests/review/test_decisions.py::test_invalid_decisions_are_refused"],
    "journal.fund_org_regex": [_t("test_month_end_follows_currency_email_output_and_journal_keys"),
                               "ocb_pipelines_tests/ledger/test_journal.py::test_fund_org_regex_layouts"],
    "journal.account_code_regex": [_t("test_journal_account_keys")],
    "journal.template": [_t("test_month_end_follows_currency_email_output_and_journal_keys"),
                         "ocb_pipelines_tests/ledger/test_export.py::test_users_template_overrides_the_default"],
    "journal.default_account": [_t("test_journal_account_keys"),
                                _t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "journal.debit_description": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "journal.credit_description": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "journal.description_max_length": [_t("test_month_end_follows_currency_email_output_and_journal_keys"),
                                       "ocb_pipelines_tests/ledger/test_journal.py::"
                                       "test_descriptions_several_pis_and_cut_length"],
    "journal.reference_field": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "output.pdf_dir": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "output.journal_dir": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "output.email_dir": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "email.from_address": [_t("test_month_end_follows_currency_email_output_and_journal_keys"),
                           _t("test_smtp_keys_reach_the_server")],
    "email.from_name": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "email.subject_template": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "email.organization_address": [_t("test_month_end_follows_currency_email_output_and_journal_keys")],
    "smtp.host": [_t("test_smtp_keys_reach_the_server")],
    "smtp.port": [_t("test_smtp_keys_reach_the_server")],
    "smtp.use_tls": [_t("test_smtp_keys_reach_the_server")],
    "smtp.username": [_t("test_smtp_keys_reach_the_server")],
    "smtp.password": [_t("test_smtp_keys_reach_the_server"),
                      "ocb_pipelines_tests/delivery/test_delivery.py::"
                      "test_unreachable_server_fails_without_leaking_the_password"],
}


# ------------------------------------------------------------------------------------------------
# The registry itself
# ------------------------------------------------------------------------------------------------


def _resolve(node_id: str):
    path, _, name = node_id.partition("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name.split("[")[0], None)


def test_every_example_key_has_an_effect_test():
    keys = example_keys()
    assert len(keys) >= 40
    missing = [k for k in keys if k not in KEY_TESTS]
    assert not missing, f"config.example.yaml keys without an effect test in KEY_TESTS: {missing}"
    unknown = [k for k in KEY_TESTS if k not in keys]
    assert not unknown, f"KEY_TESTS names keys that config.example.yaml does not have: {unknown}"


def test_every_referenced_test_exists():
    broken = [node for nodes in KEY_TESTS.values() for node in nodes
              if not (callable(_resolve(node)) and node.split("::")[1].startswith("test_"))]
    assert not broken, f"KEY_TESTS refers to tests that do not exist: {broken}"


def test_every_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    keys = list(dict.fromkeys(example_keys() + model_keys()))
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"keys not documented in docs/configuration.md: {missing}"


def test_flatten_lists_of_mappings():
    assert flatten({"a": {"b": 1, "c": [{"d": 1}, {"d": 2, "e": 3}], "f": ["x"]}}) == \
        ["a.b", "a.c[].d", "a.c[].e", "a.f"]
    keys = model_keys()
    assert "imports.known_sources[].pattern" in keys and "smtp.use_ssl" in keys and "web" in keys
    assert set(example_keys()) <= set(keys)


# ------------------------------------------------------------------------------------------------
# Helpers: a config.yaml from the example with keys changed
# ------------------------------------------------------------------------------------------------


def write_config(folder: Path, changes: dict[str, Any] | None = None) -> OcbSettings:
    """config.example.yaml with dotted keys set (`None` removes a key), written to folder/config.yaml."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(folder / "config.yaml")


def validated(settings: OcbSettings, rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Import rows and validate the month; {resource_id: charges_validated row}."""
    path = write_focus_csv(settings.config_path.parent / f"aws_{MONTH}.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[MONTH], source="aws")
        build_validated(con, MONTH, rules_from(settings))
        cursor = con.execute("SELECT * FROM charges_validated WHERE billing_month = ?", [MONTH])
        names = [d[0] for d in cursor.description]
        return {r["resource_id"]: r for r in (dict(zip(names, row, strict=True)) for row in cursor.fetchall())}


def closed_month(settings: OcbSettings, rows: list[dict[str, str]]) -> None:
    from ocb_pipelines.periods.lifecycle import close_period

    validated(settings, rows)
    with wh.connect(settings.warehouse_path) as con:
        build_approved(con, MONTH)
        close_period(con, MONTH, "tester")


def tags(**values: str) -> str:
    return json.dumps(values)


# ------------------------------------------------------------------------------------------------
# Effect tests
# ------------------------------------------------------------------------------------------------


def test_tag_mapping_chooses_the_tag_read_for_each_field(tmp_path):
    mapping = {"pi_email": "owner", "project_id": "proj", "fund_org": "fund", "cost_center": "cc",
               "account_code": "gl", "reference_1": "grant", "reference_2": "ticket"}
    settings = write_config(tmp_path, {"tag_mapping": mapping})
    row = charge_row(resource="r1", Tags=tags(owner="pi.x@example.edu", proj="p-x", fund="ABC-123456", cc="CC-1",
                                             gl="54321", grant="NSF-1", ticket="RITM-9", pi_email="wrong@x.edu"))
    got = validated(settings, [row])["r1"]
    assert {f: got[f] for f in mapping} == {
        "pi_email": "pi.x@example.edu", "project_id": "p-x", "fund_org": "ABC-123456", "cost_center": "CC-1",
        "account_code": "54321", "reference_1": "NSF-1", "reference_2": "RITM-9"}
    assert list(got["review_reasons"]) == []
    # The example's mapping reads other tag keys: the same row has no PI, project or fund there.
    other = validated(write_config(tmp_path / "example"), [row])["r1"]
    assert other["pi_email"] == "wrong@x.edu" and other["project_id"] is None and other["reference_1"] is None
    assert {"missing_project", "missing_fund_org"} <= set(other["review_reasons"])


def test_review_patterns_flag_charges(tmp_path):
    settings = write_config(tmp_path, {"review.flag_patterns": ["^scratch-"],
                                       "review.fund_org_patterns": ["^LAB-[0-9]{4}$"]})
    got = validated(settings, [
        charge_row(resource="scratch-1", fund_org="LAB-1234"),
        charge_row(resource="vm-2", fund_org="ABC-123456"),
        charge_row(resource="vm-3", fund_org="lab-0001"),  # fund patterns match case-insensitively
    ])
    assert list(got["scratch-1"]["review_reasons"]) == ["pattern_match:^scratch-"]
    assert list(got["vm-2"]["review_reasons"]) == ["invalid_fund_org"]
    assert list(got["vm-3"]["review_reasons"]) == []
    relaxed = validated(write_config(tmp_path / "none", {"review.flag_patterns": [], "review.fund_org_patterns": []}),
                        [charge_row(resource="scratch-1", fund_org="anything")])
    assert list(relaxed["scratch-1"]["review_reasons"]) == []


def test_currency_code_flags_charges_in_other_currencies(tmp_path):
    settings = write_config(tmp_path, {"currency": {"code": "EUR", "symbol": "€"}})
    got = validated(settings, [charge_row(resource="usd"), charge_row(resource="eur", BillingCurrency="EUR")])
    assert list(got["usd"]["review_reasons"]) == ["currency_mismatch"]
    assert list(got["eur"]["review_reasons"]) == []


def test_max_errors_shown_caps_the_errors_listed(tmp_path):
    bad = [charge_row(resource=f"r{i}", billed="abc") for i in range(4)]  # 3 bad cells per row: 12 errors
    for limit, shown in ((2, 2), (20, 12)):
        settings = write_config(tmp_path / str(limit), {"imports.max_errors_shown": limit})
        path = write_focus_csv(tmp_path / str(limit) / f"aws_{MONTH}.csv", bad)
        with wh.connect(settings.warehouse_path) as con:
            outcome = service.import_month(con, settings, MONTH, files=[path])
        message = outcome.refused[path.name]
        assert sum(1 for line in message.splitlines() if line.startswith("  - ")) == shown, message


def test_known_sources_name_pattern_display_fund_and_account(tmp_path):
    lab = {"name": "cryo", "pattern": "krios", "display_name": "Cryo-EM Facility", "fund_org": "CORE-900777",
           "account_code": "55500"}
    settings = write_config(tmp_path, {"imports.known_sources": [lab]})
    assert service.source_for(Path(f"Krios_usage_{MONTH}.csv"), settings, None) == "cryo"
    with pytest.raises(ImportRefused, match="cannot tell which source"):  # the name is not the pattern
        service.source_for(Path(f"cryo_{MONTH}.csv"), settings, None)
    listing = CliRunner().invoke(cli, ["sources", "list", "--json", "-c", str(settings.config_path)],
                                 catch_exceptions=False)
    (row,) = json.loads(listing.stdout)["sources"]
    assert (row["name"], row["display_name"], row["pattern"]) == ("cryo", "Cryo-EM Facility", "krios")
    journal = jr.build_gl_journal([group("10.00", source="cryo", account=None)], settings, MONTH)
    pi_line, source_line = journal.lines
    assert (pi_line.fund_org, pi_line.account, pi_line.debit) == ("ABC-123456", "55500", Decimal("10.00"))
    assert (source_line.fund_org, source_line.account, source_line.credit) == ("CORE-900777", "55500",
                                                                              Decimal("10.00"))


def test_journal_account_keys(tmp_path):
    settings = write_config(tmp_path, {"journal.default_account": "59999", "journal.account_code_regex": "^5[0-9]{4}$",
                                       "imports.known_sources": [{"name": "aws", "fund_org": "RCIT-900001"}]})
    journal = jr.build_gl_journal([group("1.00", account=None), group("2.00", account="54321", project="b")],
                                  settings, MONTH)
    assert sorted(line.account for line in journal.lines if line.party == "pi") == ["54321", "59999"]
    strict = write_config(tmp_path / "strict", {"journal.account_code_regex": "^6[0-9]{4}$"})
    with pytest.raises(jr.JournalRefused) as refused:
        jr.build_gl_journal([group("1.00", account="54321")], strict, MONTH)
    assert "account_code_regex" in str(refused.value) and "54321" in str(refused.value)


def test_month_end_follows_currency_email_output_and_journal_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "my_ledger.csv").write_text(
        '{{ ["MyLedger", "Fund", "Program", "Orgn", "Account", "Debit", "Credit", "Description", "Ref"] | csv_row }}\n'
        "{% for l in lines %}\n"
        "{{ [l.side, l.fund, l.program, l.orgn, l.account, l.debit, l.credit, l.description, l.reference_id]"
        " | csv_row }}\n{% endfor %}\n", encoding="utf-8")
    settings = write_config(tmp_path, {
        "dev_mode": True,
        "currency": {"code": "USD", "symbol": "US$ "},
        "email.from_name": "Example Lab Billing",
        "email.from_address": "lab-billing@example.org",
        "email.subject_template": "Your lab charges for {billing_period}",
        "email.organization_address": "42 Test Street, Sample Town",
        "output": {"pdf_dir": "out/pdf", "journal_dir": "out/gl", "email_dir": "out/mail"},
        "journal.template": "my_ledger.csv",
        "journal.fund_org_regex": "^(?P<orgn>[A-Z]+)-(?P<fund>[0-9]{3})(?P<program>[0-9]{3})$",
        "journal.default_account": "59999",
        "journal.debit_description": "{project_id} {reference_id}",
        "journal.credit_description": "back {source}",
        "journal.description_max_length": 10,
        "journal.reference_field": "reference_2",
        "imports.known_sources": [{"name": "aws", "pattern": "aws", "fund_org": "RCIT-900001", "account_code": ""}],
    })
    assert settings.output.pdf_dir == tmp_path / "out" / "pdf"
    row_tags = tags(pi_email="pi.one@example.edu", project_id="proj-a", fund_org="ABC-123456",
                    grant_number="NSF-1", request_id="RITM0001")
    closed_month(settings, [charge_row(resource="vm-a", billed="80.00", Tags=row_tags),
                            charge_row(resource="vm-b", billed="20.00", ListCost="25.00", Tags=row_tags)])
    with wh.connect(settings.warehouse_path) as con:
        generated = generate_statements(con, settings, MONTH, workers=1)
        delivered = deliver_month(con, settings, MONTH, actor="tester")
        exported = export_journal(con, settings, MONTH, "gl", actor="tester")
    # Statements: where output.pdf_dir says, with the organisation, contact and currency symbol.
    (outcome,) = generated.outcomes
    assert outcome.pdf_path.parent == tmp_path / "out" / "pdf" / MONTH
    pdf = "\n".join(page.extract_text() for page in PdfReader(str(outcome.pdf_path)).pages)
    for expected in ("Example Lab Billing", "42 Test Street, Sample Town", "lab-billing@example.org",
                     "US$ 100.00", "US$ 105.00"):
        assert expected in pdf, expected
    # dev_mode: the email is an .eml file in output.email_dir, with the email.* keys applied.
    assert delivered.transport == "outbox" and delivered.summary() == {"written": 1}, delivered.items
    (eml,) = (tmp_path / "out" / "mail" / MONTH).glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == f"Your lab charges for {MONTH}"
    assert msg["From"] == "Example Lab Billing <lab-billing@example.org>"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "42 Test Street, Sample Town" in html and "US$ 100.00" in html and "US$ 100.00" in text
    # Journal: output.journal_dir, the user's template, fund components, default account, descriptions
    # cut to description_max_length, the reference from reference_2 (request_id), not reference_1.
    assert exported.file_path == tmp_path / "out" / "gl" / f"journal_gl_{MONTH}.csv"
    lines = exported.file_path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("MyLedger,Fund,Program")
    assert lines[1:] == ["debit,123,456,ABC,59999,100.00,,proj-a RIT,RITM0001",
                         "credit,900,001,RCIT,59999,,100.00,back aws,"]


def test_smtp_keys_reach_the_server(tmp_path, monkeypatch):
    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret pw")

    sink = Sink()
    with running_smtp(sink, authenticator=authenticator, auth_require_tls=False) as port:
        monkeypatch.setenv("OCB_TEST_SMTP_USER", "billing-bot")
        monkeypatch.setenv("OCB_TEST_SMTP_PASSWORD", "s3cret pw")
        base = {"dev_mode": False, "smtp": {"host": "127.0.0.1", "port": port, "use_tls": False,
                                           "username": "${OCB_TEST_SMTP_USER}",
                                           "password": "${OCB_TEST_SMTP_PASSWORD}"}}
        settings = write_config(tmp_path, base)
        closed_month(settings, [charge_row(resource="vm-a", billed="12.00")])
        with wh.connect(settings.warehouse_path) as con:
            generate_statements(con, settings, MONTH, workers=1)
            result = deliver_month(con, settings, MONTH, actor="tester")
        assert result.transport == "smtp" and result.summary() == {"sent": 1}, result.items
        assert logins == [("billing-bot", "s3cret pw")]
        ((rcpts, msg),) = sink.messages
        assert rcpts == ["pi.one@example.edu"] and "rc-billing@example.edu" in msg["From"]
        assert not (settings.output.email_dir / MONTH).exists()  # dev_mode off: nothing in the outbox
        # use_tls: STARTTLS is required, and this server does not offer it: refused before anything is sent.
        tls = settings.model_copy(update={"smtp": settings.smtp.model_copy(update={"use_tls": True})})
        with wh.connect(settings.warehouse_path) as con:
            failed = deliver_month(con, tls, MONTH, actor="tester", resend_pis=["pi.one@example.edu"],
                                   resend_reason="tls check")
        assert [i["status"] for i in failed.items] == ["failed"] and "STARTTLS" in failed.items[0]["error"]
        assert len(sink.messages) == 1 and "s3cret" not in failed.items[0]["error"]


def test_paths_database_dagster_home_inbox_and_review_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "")  # unset: the config's dagster_home is used
    monkeypatch.setenv("OCB_ACTOR", "tester")
    settings = write_config(tmp_path, {"database.path": "db/ocb.duckdb", "dagster_home": "runs/home",
                                       "imports.inbox_dir": "drop", "review.review_dir": "sheets"})
    assert prepare_dagster_home(settings) == tmp_path / "runs" / "home"
    dropped = write_focus_csv(tmp_path / "drop" / f"aws_{MONTH}.csv", [charge_row(resource="scratch", fund_org=None)])
    write_focus_csv(tmp_path / "data" / "inbox" / f"gcp_{MONTH}.csv", [charge_row()])  # the default inbox: ignored
    with wh.connect(settings.warehouse_path) as con:
        assert service.files_for_month(con, settings, MONTH)[0] == [dropped]
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(dropped), "--json", "-c", str(settings.config_path)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "db" / "ocb.duckdb").is_file() and not (tmp_path / "data" / "warehouse.duckdb").exists()
    assert (tmp_path / "runs" / "home" / "dagster.yaml").is_file()
    with dg.DagsterInstance.from_config(str(tmp_path / "runs" / "home")) as instance:
        assert [r.job_name for r in instance.get_runs()] == ["ingest_job"]
    exported = runner.invoke(cli, ["review", "export", "-p", MONTH, "--json", "-c", str(settings.config_path)],
                             catch_exceptions=False)
    sheet = Path(json.loads(exported.stdout)["path"])
    assert sheet.parent == tmp_path / "sheets" / "exports" and sheet.is_file()
