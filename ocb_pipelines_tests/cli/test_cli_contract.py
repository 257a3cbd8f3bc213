"""The `ocb` contract for scripts: --help everywhere, --json on every reporting command (one JSON object,
money as strings), one line on stderr and a non-zero exit for every error, and progress only on stderr."""

import json
import time

import click
import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.cli.progress import ProgressDisplay
from ocb_pipelines_tests.conftest import GOOD_TAGS, focus_row, write_focus

MONTH = "2025-01"
PI_TWO = "pi.two@example.edu"


def _leaves(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out[" ".join((*prefix, name))] = command
            out.update(_leaves(command, (*prefix, name)))
        else:
            out[" ".join((*prefix, name))] = command
    return out


COMMANDS = _leaves()
LEAVES = {path: c for path, c in COMMANDS.items() if not isinstance(c, click.Group)}
NOT_REPORTING = {"ui", "serve"}  # start the Dagster webserver / the review desk; print where they listen
REPORTING = sorted(set(LEAVES) - NOT_REPORTING)
COVERED_ELSEWHERE = {
    "demo": "ocb_pipelines_tests/cli/test_demo.py runs `ocb demo --json` twice",
    "deliveries confirm": "ocb_pipelines_tests/delivery/test_delivery.py confirms an interrupted SMTP send",
    "import-history": "ocb_pipelines_tests/history/test_import_history.py imports an OpenChargeback billing.db",
    "pricing check": "ocb_pipelines_tests/cli/test_pricing_cli.py checks good and refused pricing files with --json",
    **{f"users {name}": "ocb_pipelines_tests/cli/test_serve.py runs each `ocb users` command with --json"
       for name in ("add", "list", "disable", "token")},
}


def _env(monkeypatch, workdir):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dagster_home"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.delenv("OCB_CONFIG", raising=False)


def _ocb(workdir, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")])


def _no_floats(value, where="$"):
    """Money (and every other exact number) is a string in the JSON, never a float; durations may be."""
    if isinstance(value, float) and not where.endswith("seconds"):
        raise AssertionError(f"float at {where}: {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_floats(v, f"{where}.{k}")
    if isinstance(value, list):
        for i, v in enumerate(value):
            _no_floats(v, f"{where}[{i}]")


@pytest.mark.parametrize("path", ["", *COMMANDS])
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout and result.stderr == ""


@pytest.mark.parametrize("path", REPORTING)
def test_every_reporting_command_takes_json(path):
    assert "as_json" in {p.name for p in LEAVES[path].params}, f"`ocb {path}` has no --json"


def _tiny_files(workdir):
    aws = write_focus(workdir / "aws_2025-01.csv", [
        focus_row(billed="10.10"),
        focus_row(billed="2.50", ResourceId="i-2", tags={**GOOD_TAGS, "pi_email": PI_TWO, "project_id": "genomics"}),
        focus_row(billed="4.00", ResourceId="i-3", ResourceName="test-x"),  # flagged: review.flag_patterns
    ])
    lab = write_focus(workdir / "labx_2025-01.csv", [focus_row(billed="3.00", ResourceId="node-7")])
    return aws, lab


def test_every_reporting_command_emits_one_json_object(workdir, monkeypatch):
    """A whole month end through the CLI in --json mode, on a real warehouse and Dagster instance."""
    _env(monkeypatch, workdir)
    aws, lab = _tiny_files(workdir)
    ran: dict[str, dict] = {}

    def ok(path, *args):
        result = _ocb(workdir, *path.split(), *args, "--json")
        assert result.exit_code == 0, f"ocb {path}: {result.output}"
        payload = json.loads(result.stdout)  # exactly one JSON document: nothing else on stdout
        assert isinstance(payload, dict)
        _no_floats(payload)
        ran[path] = payload
        return payload

    version = CliRunner().invoke(cli, ["version", "--json"])  # reads no configuration: no -c
    ran["version"] = json.loads(version.stdout)
    assert version.exit_code == 0 and ran["version"]["version"]
    assert ok("sources list")["sources"][0]["name"] == "aws"
    ok("sources add", "lab", "--pattern", "labx", "--fund-org", "RCIT-900030", "--account-code", "54100")
    summary = ok("ingest", str(aws), str(lab))
    assert {f["file"]: f["source"] for f in summary["files"]} == {aws.name: "aws", lab.name: "lab"}
    assert summary["billed_total"] == "19.600000000000" and summary["flagged_rows"] == 1
    shown = ok("show", GOOD_TAGS["pi_email"], "-p", MONTH)["projects"]
    assert [(p["project"], p["billed"], p["statuses"]) for p in shown] == [
        ("astro-survey", "17.100000000000", {"unflagged": 2, "pending": 1})]
    (flagged,) = [c["charge_id"] for c in ok("review list", "-p", MONTH)["charges"]]
    assert ok("review export", "-p", MONTH, "-o", str(workdir / "sheet.csv"))["charges"] == 1
    assert ok("review apply", str(workdir / "sheet.csv"))["status"] == "empty"
    ok("review approve", "-p", MONTH, "--id", flagged, "--note", "checked")
    ok("review reject", "-p", MONTH, "--id", flagged, "--note", "not ours after all")
    ok("review correct", "-p", MONTH, "--id", flagged, "--set-project", "astro-survey", "--note", "tag typo")
    assert ok("periods close", MONTH)["status"] == "closed"
    assert ok("generate", "-p", MONTH, "--dry-run")["dry_run"]
    generated = ok("generate", "-p", MONTH, "--send")
    assert generated["rendered"] == 2 and sorted(e["status"] for e in generated["emails"]) == ["written", "written"]
    assert ok("send", "-p", MONTH)["emails"] == []
    assert [e["status"] for e in ok("resend", "--pi", PI_TWO, "-p", MONTH)["emails"]] == ["written"]
    assert [d["status"] for d in ok("deliveries list", "-p", MONTH)["deliveries"]] == ["written"] * 3
    journal = ok("export-journal", "-p", MONTH)
    assert journal["debit_total"] == journal["credit_total"]
    unbilled = ok("unbilled", "-p", MONTH, "--csv")  # the flagged charge was corrected: nothing left unbilled
    assert (unbilled["reconciled"], unbilled["groups"], unbilled["csv"]["status"]) == (True, [], "written")
    assert ok("periods finalize", MONTH)["status"] == "finalized"
    assert ok("periods open", "2025-02")["status"] == "open"
    ok("periods close", "2025-02")
    assert ok("periods reopen", "2025-02", "--reason", "late credit")["status"] == "open"
    assert [p["period"] for p in ok("periods list")["periods"]] == [MONTH, "2025-02"]
    assert ok("sources sync-status")["sources"] == ok("sources list")["sources"]
    assert ok("pricing months")["affected"] == []  # no pricing configured: nothing to price
    actions = {e["action"] for e in ok("audit", "-p", MONTH)["events"]}
    assert {"import", "review_approve", "review_reject", "review_correct", "period_close", "statements_generate",
            "journal_export", "period_finalize"} <= actions, actions

    assert set(ran) | set(COVERED_ELSEWHERE) == set(REPORTING), "a reporting command is not exercised here"


# Minimal valid arguments for each command, so that only the one thing under test is wrong.
ARGS = {
    "ingest": ["aws_2025-01.csv"], "show": [PI_TWO, "-p", MONTH], "sources list": [], "sources add": ["lab"],
    "sources sync-status": [], "version": [], "pricing check": [], "pricing months": [],
    "demo": [], "ui": [], "review list": ["-p", MONTH], "review approve": ["-p", MONTH, "--all", "--note", "n"],
    "review reject": ["-p", MONTH, "--all", "--note", "n"],
    "review correct": ["-p", MONTH, "--all", "--note", "n", "--set-project", "p"], "review export": ["-p", MONTH],
    "review apply": ["sheet.csv"], "periods list": [], "periods open": [MONTH], "periods close": [MONTH],
    "periods reopen": [MONTH, "--reason", "r"], "periods finalize": [MONTH], "audit": ["-p", MONTH],
    "generate": ["-p", MONTH], "send": ["-p", MONTH], "resend": ["--pi", PI_TWO, "-p", MONTH],
    "export-journal": ["-p", MONTH], "unbilled": ["-p", MONTH], "deliveries list": ["-p", MONTH],
    "deliveries confirm": ["-p", MONTH, "--message-id", "<m@x>", "--reason", "r"],
    "import-history": ["billing.db"], "serve": [], "users list": [], "users disable": ["ann"], "users token": ["ann"],
    "users add": ["ann", "--role", "viewer", "--password", "long-enough-1"],
}


def _one_line_error(result, *, as_json=False):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    if as_json:
        payload = json.loads(result.stdout)
        assert payload["ok"] is False and payload["error"]
    return lines[0]


def test_argument_table_covers_every_command():
    assert set(ARGS) == set(LEAVES)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("path", sorted(LEAVES))
def test_bad_config_is_one_line_on_stderr(path, as_json, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OCB_CONFIG", raising=False)
    args = [*path.split(), *ARGS[path], "-c", str(tmp_path / "missing.yaml")] + (["--json"] if as_json else [])
    if as_json and path in NOT_REPORTING:
        return  # ui and serve have no --json
    if path == "version":
        return  # reads no configuration (no -c)
    line = _one_line_error(CliRunner().invoke(cli, args), as_json=as_json)
    assert "configuration file not found" in line


def test_invalid_config_is_one_line_on_stderr(workdir, monkeypatch):
    _env(monkeypatch, workdir)
    config = workdir / "config.yaml"
    config.write_text(config.read_text().replace("journal:", "journal:\n  no_such_key: 1"))
    line = _one_line_error(_ocb(workdir, "periods", "list"))
    assert "journal.no_such_key" in line


PERIOD_COMMANDS = sorted(p for p, c in LEAVES.items() if "period" in {x.name for x in c.params})


@pytest.mark.parametrize("path", PERIOD_COMMANDS)
def test_bad_period_is_one_line_on_stderr(path, workdir, monkeypatch):
    _env(monkeypatch, workdir)
    args = [("2025-13" if a == MONTH else a) for a in ARGS[path]]
    if "2025-13" not in args:  # -p is optional here (ingest)
        args += ["-p", "2025-13"]
    line = _one_line_error(_ocb(workdir, *path.split(), *args))
    assert "2025-13" in line


@pytest.mark.parametrize("args", [
    ["show", PI_TWO, "-p", "2031-01"], ["periods", "close", "2031-01"], ["periods", "finalize", "2031-01"],
    ["export-journal", "-p", "2031-01"], ["generate", "-p", "2031-01"], ["review", "approve", "-p", "2031-01",
                                                                         "--id", "x", "--note", "n"],
    ["unbilled", "-p", "2031-01"],
], ids=lambda a: " ".join(a[:2]))
def test_unknown_period_is_one_line_on_stderr(args, workdir, monkeypatch):
    _env(monkeypatch, workdir)
    _one_line_error(_ocb(workdir, *args))
    _one_line_error(_ocb(workdir, *args, "--json"), as_json=True)


@pytest.mark.parametrize("path", ["ingest", "review apply"])
def test_missing_file_is_one_line_on_stderr(path, workdir, monkeypatch):
    _env(monkeypatch, workdir)
    missing = str(workdir / "nope_2025-01.csv")
    line = _one_line_error(_ocb(workdir, *path.split(), missing))
    assert "nope_2025-01.csv: file not found" in line
    _one_line_error(_ocb(workdir, *path.split(), missing, "--json"), as_json=True)


def test_usage_errors_are_one_line(workdir):
    line = _one_line_error(_ocb(workdir, "generate"))  # missing -p
    assert "--period" in line and "ocb generate --help" in line
    result = _ocb(workdir, "review", "list", "-p", MONTH, "--bogus", "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False
    assert len(result.stderr.splitlines()) == 1


def test_sources_add_keeps_comments_and_is_detected_by_ingest(workdir, monkeypatch):
    from ocb_pipelines.core.config import load_config
    from ocb_pipelines.ingest.service import source_for

    _env(monkeypatch, workdir)
    config = workdir / "config.yaml"
    before = config.read_text()
    result = _ocb(workdir, "sources", "add", "lab", "--pattern", "labx", "-d", 'Lab "Seven"', "--fund-org",
                  "RCIT-900030", "--account-code", "54100", "-t", "file")
    assert result.exit_code == 0, result.output
    after = config.read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ['    - {name: lab, pattern: labx, display_name: "Lab \\"Seven\\"", fund_org: "RCIT-900030", '
                     'account_code: "54100"}']
    assert [line for line in before.splitlines() if line not in after.splitlines()] == []  # every comment kept
    assert "# pattern: text in a file name that names the source" in after
    settings = load_config(config)
    assert settings.source("lab").display_name == 'Lab "Seven"'
    assert source_for(workdir / "LABX-export_2025-01.csv", settings) == "lab"
    listed = json.loads(_ocb(workdir, "sources", "list", "--json").stdout)["sources"]
    assert {"name": "lab", "pattern": "labx", "fund_org": "RCIT-900030"}.items() <= listed[-1].items()


@pytest.mark.parametrize("args,reason", [
    (["aws"], "already in imports.known_sources"),
    (["AWS2", "--pattern", "AWS"], "already the pattern of source 'aws'"),
    (["lab", "--fund-org", "not a fund"], "does not match journal.fund_org_regex"),
    (["lab", "--account-code", "12"], "does not match journal.account_code_regex"),
    (["lab", "--pattern", "a/b"], "can never appear in a file name"),
    (["bad/name"], "name 'bad/name'"),  # a space is fine (OpenChargeback's "Azure Local"), a slash is not
    (["lab", "-t", "api"], "api sources are not supported"),
])
def test_sources_add_refusals_leave_the_file_byte_identical(args, reason, workdir, monkeypatch):
    _env(monkeypatch, workdir)
    config = workdir / "config.yaml"
    before = config.read_bytes()
    for extra in ([], ["--json"]):
        result = _ocb(workdir, "sources", "add", *args, *extra)
        line = _one_line_error(result, as_json=bool(extra))
        assert reason in line
        assert config.read_bytes() == before
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml", "data"]  # no temp file left behind


def test_sources_add_to_a_config_without_sources_is_block_style(workdir, monkeypatch):
    _env(monkeypatch, workdir)
    config = workdir / "config.yaml"
    config.write_text("# my site\ndev_mode: true   # keep\ncurrency:\n    code: EUR\n    symbol: \"€\"\n")
    assert _ocb(workdir, "sources", "add", "hpc", "--fund-org", "RC-1").exit_code == 0
    assert config.read_text() == ("# my site\ndev_mode: true   # keep\ncurrency:\n    code: EUR\n    symbol: \"€\"\n"
                                  "imports:\n    known_sources:\n        - name: hpc\n          fund_org: RC-1\n"
                                  "          pattern: hpc\n")


@pytest.mark.parametrize("layout", [
    "imports:\n  known_sources:\n  - name: aws\n    fund_org: RCIT-900001\n",  # dashes not indented
    "imports:\n    known_sources:\n      -   name: aws\n          fund_org: RCIT-900001\n",  # wide
])
def test_sources_add_follows_the_files_indentation(layout, workdir, monkeypatch):
    from ocb_pipelines.services.sources import guess_indent

    _env(monkeypatch, workdir)
    config = workdir / "config.yaml"
    config.write_text(layout)
    mapping, sequence, offset = guess_indent(layout)
    assert _ocb(workdir, "sources", "add", "gcp").exit_code == 0
    text = config.read_text()
    assert text.startswith(layout)  # the existing lines are untouched, the new entry is appended below
    dash = " " * (mapping + offset) + "-" + " " * (sequence - offset - 1)
    assert text[len(layout):] == f"{dash}name: gcp\n{' ' * (mapping + sequence)}pattern: gcp\n"


def test_progress_goes_to_stderr_and_json_stays_clean(workdir, monkeypatch):
    _env(monkeypatch, workdir)
    aws = write_focus(workdir / "aws_2025-01.csv", [
        focus_row(billed="1.25"), focus_row(billed="2.50", ResourceId="i-2", tags={**GOOD_TAGS, "pi_email": PI_TWO})])
    lab = write_focus(workdir / "lab_2025-01.csv", [focus_row(billed="3.00", ResourceId="node-7")])
    result = _ocb(workdir, "ingest", str(aws), "--progress", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 2
    assert "ingest [1/1] 2025-01 aws_2025-01.csv: 2 rows, imported in " in result.stderr
    quiet = _ocb(workdir, "ingest", str(lab), "-s", "lab", "-q")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    silent = _ocb(workdir, "ingest", str(aws), "--json")  # not a terminal: no progress unless asked
    assert silent.stderr == "" and json.loads(silent.stdout)["files"][0]["status"] == ["unchanged"]

    assert _ocb(workdir, "periods", "close", MONTH).exit_code == 0  # nothing reviewed: close builds approved
    rendered = _ocb(workdir, "generate", "-p", MONTH, "--progress", "--json")
    assert rendered.exit_code == 0, rendered.output
    assert json.loads(rendered.stdout)["rendered"] == 2
    assert "render: 2 statement(s) to render" in rendered.stderr and "render [2/2] statements" in rendered.stderr
    again = _ocb(workdir, "generate", "-p", MONTH, "--progress")
    assert "render: 0 statement(s) to render (2 unchanged)" in again.stderr and "unchanged 2" in again.stdout


def test_live_display_ticks_on_a_terminal(capsys):
    """On a terminal one line is redrawn in place while a file imports (elapsed time ticking)."""
    display = ProgressDisplay(files_total=2, live=True, tick=0.01)
    seen = ""
    with display:
        display("import_file_start", {"month": MONTH, "file": "big.csv"})
        deadline = time.monotonic() + 10
        while "big.csv ... 0." not in seen and time.monotonic() < deadline:
            seen += capsys.readouterr().err
            time.sleep(0.01)
        display("import_file_done", {"month": MONTH, "file": "big.csv", "rows": 1234567, "status": "imported"})
    seen += capsys.readouterr().err
    assert "\ringest [1/2] 2025-01 big.csv ... 0." in seen
    assert "ingest [1/2] 2025-01 big.csv: 1,234,567 rows, imported in" in seen and seen.endswith("\n")


@pytest.mark.parametrize(("args", "said"), [
    (["--allow-provisional"], "--allow-provisional needs a reason"),
    (["--reason", "r"], "--reason goes with --allow-provisional"),
])
def test_periods_close_allow_provisional_needs_its_reason_in_one_line(workdir, monkeypatch, args, said):
    """`ocb periods close M --allow-provisional --reason "..."` (issue 20): a half of the pair is one line on
    stderr, before anything is opened (periods/test_provisional.py closes with both)."""
    _env(monkeypatch, workdir)
    line = _one_line_error(_ocb(workdir, "periods", "close", MONTH, *args))
    assert said in line
