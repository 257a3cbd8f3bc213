"""`ocb users` manages who may use the review desk, and `ocb serve` serves it on 127.0.0.1 until stopped."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.services import desk_users
from ocb_pipelines_tests.smtp import free_port

PASSWORD = "long-enough-1"


def ocb(workdir, *args: str, input: str | None = None, env: dict[str, str] | None = None):
    """`ocb ARGS -c CONFIG --json` in process: its exit code and its JSON answer (after a password prompt, which
    CliRunner shows on stdout; a terminal shows it on the tty)."""
    result = CliRunner(env=env).invoke(cli, [*args, "-c", str(workdir / "config.yaml"), "--json"], input=input)
    return result.exit_code, json.loads(result.stdout[result.stdout.index("{"):])


def test_users_add_list_disable_and_token(workdir, settings):
    assert ocb(workdir, "users", "add", "ada", "--role", "admin", "--password", PASSWORD,
               "--display-name", "Ada L") == (0, {"ok": True, "user": "ada", "role": "admin"})
    assert ocb(workdir, "users", "add", "rita", "--role", "reviewer", input=f"{PASSWORD}\n{PASSWORD}\n")[0] == 0
    assert ocb(workdir, "users", "add", "bot", "--role", "viewer", "--no-password")[0] == 0
    assert ocb(workdir, "users", "add", "vic", "--role", "viewer", env={"OCB_PASSWORD": PASSWORD})[0] == 0
    assert desk_users.authenticate(settings, "ada", PASSWORD).role == "admin"  # the hash verifies
    assert desk_users.authenticate(settings, "rita", PASSWORD).role == "reviewer"  # the prompted password
    assert desk_users.authenticate(settings, "vic", PASSWORD).role == "viewer"  # $OCB_PASSWORD
    assert desk_users.authenticate(settings, "bot", "") is None  # no password: token or proxy header only
    assert PASSWORD not in (workdir / "data" / "desk.sqlite").read_bytes().decode("latin-1")

    code, listed = ocb(workdir, "users", "list")
    assert code == 0 and listed["users"] == [
        {"user": "ada", "role": "admin", "display_name": "Ada L", "disabled": False},
        {"user": "bot", "role": "viewer", "display_name": "", "disabled": False},
        {"user": "rita", "role": "reviewer", "display_name": "", "disabled": False},
        {"user": "vic", "role": "viewer", "display_name": "", "disabled": False}]

    code, issued = ocb(workdir, "users", "token", "bot")
    assert code == 0 and issued["token"].startswith("ocb_")
    assert desk_users.user_for_token(settings, issued["token"]).username == "bot"
    assert ocb(workdir, "users", "disable", "bot") == (0, {"ok": True, "user": "bot", "disabled": True})
    assert desk_users.user_for_token(settings, issued["token"]) is None  # its tokens stop at once
    assert [u["disabled"] for u in ocb(workdir, "users", "list")[1]["users"] if u["user"] == "bot"] == [True]


def test_users_commands_refuse_with_a_reason(workdir):
    assert ocb(workdir, "users", "add", "ada", "--role", "admin", "--password", PASSWORD)[0] == 0
    for args, words in ((("users", "add", "ada", "--role", "viewer", "--password", PASSWORD), "exists already"),
                        (("users", "add", "eve", "--role", "viewer", "--password", "short"), "at least 8"),
                        (("users", "add", "../eve", "--role", "viewer", "--no-password"), "use 1-64 letters"),
                        (("users", "token", "nobody"), "no user 'nobody'"),
                        (("users", "disable", "nobody"), "no user 'nobody'")):
        code, answer = ocb(workdir, *args)
        assert code == 1 and answer["ok"] is False and words in answer["error"], (args, answer)
    ocb(workdir, "users", "disable", "ada")
    code, answer = ocb(workdir, "users", "token", "ada")
    assert code == 1 and "disabled" in answer["error"]


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def _wait_listening(proc: subprocess.Popen, port: int, deadline_s: float) -> None:
    """Until the port accepts a connection; fails at once if the server exits, and at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        with contextlib.suppress(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"ocb serve did not listen on {port} within {deadline_s} s")
        with contextlib.suppress(subprocess.TimeoutExpired):  # waits a little, and notices an early exit
            proc.wait(timeout=0.1)
        assert proc.returncode is None, f"ocb serve exited with {proc.returncode}"


def test_ocb_serve_answers_on_its_port_and_stops_on_sigterm(workdir, settings, tmp_path):
    desk_users.add_user(settings, "ada", "admin", PASSWORD)
    token = desk_users.issue_token(settings, "ada")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "WEB_SECRET_KEY": "x" * 32}
    env.pop("OCB_CONFIG", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([shutil.which("ocb") or "ocb", "serve", "--port", str(port), "-c",
                                 str(workdir / "config.yaml")], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        _wait_listening(proc, port, 120)
        status, headers, page = _get(port, "/login")
        assert status == 200 and 'name="password"' in page and 'name="csrf_token"' in page
        assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "SAMEORIGIN"
        assert _get(port, "/")[0] == 303  # not signed in: to /login
        status, _, body = _get(port, "/api/v1/months", {"Authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(body) == {"ok": True, "months": []}  # the (empty) warehouse, read
        status, _, htmx = _get(port, "/static/vendor/htmx.min.js")
        assert status == 200 and "htmx" in htmx  # served by the desk itself: no CDN
        proc.terminate()
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text()
    assert f"Review desk on http://127.0.0.1:{port}/" in output and "Traceback" not in output
