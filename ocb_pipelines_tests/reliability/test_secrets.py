"""The SMTP password (set through ${OCB_SMTP_PASSWORD}) never shows: not in the output of `ocb generate` /
`ocb send` (success, wrong password, server down), not in the Dagster instance (run config, tags, event
log, compute logs: the whole DAGSTER_HOME is scanned byte by byte), not in asset metadata, the warehouse
(delivery log errors, audit events), the outputs, the config's repr or any --json output.

A real SMTP server with AUTH (aiosmtpd on 127.0.0.1) checks the password."""

import base64
import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import load_config
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.delivery.conftest import Sink
from ocb_pipelines_tests.smtp import free_port, running_smtp
from ocb_pipelines_tests.statements.conftest import REPO, load_month, month_rows

MONTH = "2025-01"
USER = "billing-robot"
RIGHT = "Corr3ct-Horse-b4ttery-Staple-7f1e"
WRONG = "Wr0ng-Horse-b4ttery-Staple-c2d9"


def _forms(secret: str) -> list[bytes]:
    """The secret as bytes, base64 (as in AUTH LOGIN) and inside an AUTH PLAIN blob."""
    plain = base64.b64encode(f"\0{USER}\0{secret}".encode())
    return [secret.encode(), base64.b64encode(secret.encode()), plain, secret.encode("utf-16-le")]


def _leaks(blob: bytes | str) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [f"{which}:{form[:12]!r}" for which in (RIGHT, WRONG) for form in _forms(which) if form in data]


class _AuthCheck:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
            and auth_data.password == RIGHT.encode()
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_auth():
    sink = Sink()
    with running_smtp(sink, authenticator=_AuthCheck(), auth_require_tls=False,
                      auth_exclude_mechanism=["CRAM-MD5"]) as port:
        yield sink, port


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A closed month with approved charges; config sends through SMTP with ${OCB_SMTP_PASSWORD}."""
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("dev_mode: true", "dev_mode: false")
    text = text.replace("port: 587", "port: ${OCB_SMTP_PORT}").replace("use_tls: true", "use_tls: false")
    text = text.replace("username: ${OCB_SMTP_USERNAME:-}", "username: ${OCB_SMTP_USERNAME}")
    text = text.replace("password: ${OCB_SMTP_PASSWORD:-}", "password: ${OCB_SMTP_PASSWORD}")
    assert "${OCB_SMTP_PASSWORD}" in text and "${OCB_SMTP_PORT}" in text
    (tmp_path / "config.yaml").write_text(text + "\n", encoding="utf-8")
    env = {"OCB_ACTOR": "tester", "DAGSTER_HOME": str(tmp_path / "dagster_home"), "OCB_SMTP_HOST": "127.0.0.1",
           "OCB_SMTP_PORT": "25", "OCB_SMTP_USERNAME": USER, "OCB_SMTP_PASSWORD": RIGHT}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    load_month(load_config(tmp_path / "config.yaml"), month_rows())
    return tmp_path


def _ocb(workdir: Path, *args: str, password: str, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OCB_SMTP_PASSWORD": password, "OCB_SMTP_PORT": str(port)}
    return subprocess.run(["ocb", *args, "-c", str(workdir / "config.yaml")], capture_output=True, text=True,
                          env=env, timeout=300, cwd=workdir)


def _instance_text(home: Path) -> str:
    """Everything the UI shows of every run: run config, tags, every event (metadata, errors, logs)."""
    parts = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records():
            run = record.dagster_run
            parts.append(json.dumps(run.run_config, default=str))
            parts.append(json.dumps(run.tags, default=str))
            parts.extend(repr(entry) for entry in instance.all_logs(run.run_id))
    return "\n".join(parts)


def _warehouse_text(db: Path) -> str:
    with wh.connect(db) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # aiosmtpd itself, on success
def test_smtp_password_never_appears(project, smtp_auth):
    sink, port = smtp_auth
    outputs: dict[str, str] = {}

    generated = _ocb(project, "generate", "-p", MONTH, password=RIGHT, port=port)
    assert generated.returncode == 0, generated.stderr
    outputs["generate"] = generated.stdout + generated.stderr

    wrong = _ocb(project, "send", "-p", MONTH, "--json", password=WRONG, port=port)
    assert wrong.returncode == 1 and not sink.messages
    assert "535" in wrong.stdout or "uthentication" in wrong.stdout, wrong.stdout  # a clear login error
    outputs["send wrong password"] = wrong.stdout + wrong.stderr

    down = _ocb(project, "send", "-p", MONTH, "--json", password=RIGHT, port=free_port())
    assert down.returncode == 1 and not sink.messages
    assert "refused" in down.stdout.lower() or "connect" in down.stdout.lower(), down.stdout
    outputs["send server down"] = down.stdout + down.stderr

    sent = _ocb(project, "send", "-p", MONTH, password=RIGHT, port=port)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(sink.messages) == 2  # pi.one and pi.two: the right password got through
    outputs["send"] = sent.stdout + sent.stderr
    outputs["generate --send --json"] = _ocb(project, "generate", "-p", MONTH, "--send", "--json",
                                             password=RIGHT, port=port).stdout

    for message in sink.messages:
        outputs[f"email to {message[0]}"] = message[1].as_string()

    settings = load_config(project / "config.yaml")  # RIGHT from the environment (monkeypatch)
    assert settings.smtp.password == RIGHT
    outputs["repr"] = repr(settings) + str(settings) + repr(settings.smtp) + str(settings.smtp)
    runner = CliRunner()
    for args in (["sources", "list", "--json"], ["sources", "list"], ["periods", "list", "--json"],
                 ["review", "list", "-p", MONTH, "--json"], ["audit", "-p", MONTH, "--json"],
                 ["show", "pi.one@example.edu", "-p", MONTH, "--json"]):
        result = runner.invoke(cli, [*args, "-c", str(project / "config.yaml")])
        assert result.exit_code == 0, (args, result.output)
        outputs[" ".join(args)] = result.output

    home = project / "dagster_home"
    outputs["dagster instance"] = _instance_text(home)
    outputs["warehouse"] = _warehouse_text(project / "data" / "warehouse.duckdb")
    assert "535" in outputs["warehouse"]  # the failed attempt's error is in the delivery log, redacted

    for name, text in outputs.items():
        assert not _leaks(text), f"the SMTP password leaks in {name}: {_leaks(text)}"
    scanned = 0
    for path in sorted(project.rglob("*")):  # DAGSTER_HOME (runs, event log, compute logs), data/, outputs
        if path.is_file():
            scanned += 1
            assert not _leaks(path.read_bytes()), f"the SMTP password leaks in {path}"
    assert scanned > 20 and any(home.rglob("*.db"))


def test_config_dumps_hide_the_password(tmp_path, monkeypatch):
    """repr and str never show it; a ConfigError about the smtp section does not echo the value."""
    monkeypatch.setenv("OCB_SMTP_PASSWORD", RIGHT)
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    settings = load_config(tmp_path / "config.yaml")
    assert settings.smtp.password == RIGHT
    assert not _leaks(repr(settings) + str(settings) + repr(settings.smtp) + f"{settings.smtp!s}")
    bad = text.replace("port: 587", "port: ${OCB_SMTP_PASSWORD}")
    (tmp_path / "config.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_config(tmp_path / "config.yaml")
    assert "smtp.port" in str(err.value) and not _leaks(str(err.value))
