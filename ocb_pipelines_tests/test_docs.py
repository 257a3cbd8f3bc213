"""The docs do not rot: links and images resolve, every `ocb` command and option shown exists, every Dagster
job, sensor and schedule named exists, sample FOCUS rows import, and the example scripts work."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import duckdb
import pytest

from ocb_pipelines.cli.main import cli
from ocb_pipelines.ingest import importer
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.core.test_config_keys import example_keys, model_keys

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
OCB = re.compile(r"(?<![\w./-])ocb((?:\s+[^\s|;&#)]+)*)")
DAGSTER_NAME = re.compile(r"`([a-z][a-z0-9_]*_(?:job|sensor|schedule))`")
# Made by docs/make_screenshots.sh (the browser tests, and pdftoppm for the statement).
SCREENSHOTS = ("asset-graph.png", "asset-plots.png", "check-partitions.png", "failed-import.png", "run.png",
               "statement-lines.png", "statement.png", "statements-lineage.png", "statements-metadata.png",
               "desk-months.png", "desk-review-by-reason.png", "desk-charge.png", "desk-month.png",
               "desk-statements.png", "desk-months-dark.png")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    body = FENCE.sub("", _text(page))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", body, re.M)}


def _links(page: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(FENCE.sub("", _text(page)))]


def test_docs_exist_and_the_index_lists_every_page():
    names = {p.name for p in PAGES}
    assert {"README.md", "getting-started.md", "configuration.md", "month-end.md", "review.md", "templates.md",
            "integrations.md", "operations.md", "scaling.md"} <= names
    index = _text(DOCS / "README.md")
    missing = [p.name for p in PAGES if p.name != "README.md" and f"]({p.name})" not in index]
    assert not missing, f"docs/README.md does not link to {missing}"
    assert "](docs/README.md)" in _text(REPO / "README.md"), "README.md should link the docs"


@pytest.mark.parametrize("page", [*PAGES, REPO / "README.md"], ids=lambda p: p.name)
def test_relative_links_and_images_resolve(page: Path):
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked (no network in tests)
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: {resolved} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_every_screenshot_is_shown_and_is_a_png():
    referenced = {Path(t).name for page in PAGES for t in _links(page) if t.startswith("images/")}
    assert referenced == set(SCREENSHOTS)
    for name in SCREENSHOTS:
        assert (DOCS / "images" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def _commands_shown() -> list[tuple[str, str]]:
    """(page, the text after `ocb`) for every ocb command line in code blocks and inline code."""
    found = []
    for page in [*PAGES, REPO / "README.md"]:
        text = _text(page)
        snippets = [body for lang, body in FENCE.findall(text) if lang in ("", "bash", "sh", "cron")]
        snippets += INLINE.findall(FENCE.sub("", text))
        for snippet in snippets:
            snippet = snippet.replace("\\\n", " ")
            for line in snippet.splitlines():
                line = line.split(" #")[0]
                for match in OCB.finditer(line):
                    found.append((page.name, match.group(1).strip()))
    return found


def _resolve(words: list[str]) -> tuple[click.Command, list[str]] | None:
    command: click.Command = cli
    rest = list(words)
    while isinstance(command, click.Group) and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):
        sub = command.commands.get(rest[0])
        if sub is None:
            return None
        command, rest = sub, rest[1:]
    return command, rest


def test_every_ocb_command_and_option_shown_exists():
    shown = _commands_shown()
    assert len(shown) > 60
    problems = []
    for page, args in shown:
        words = args.split()
        if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
            continue  # `ocb COMMAND --help`, or the word "ocb" in prose
        resolved = _resolve(words)
        if resolved is None:
            problems.append(f"{page}: `ocb {args}`: no such command")
            continue
        command, rest = resolved
        known = {"--help", "-h"} | {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for word in rest:
            option = word.strip("[]").split("=")[0]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", option) and option not in known:
                problems.append(f"{page}: `ocb {args}`: {command.name} has no option {option}")
    assert not problems, "\n".join(problems)


def test_every_dagster_job_sensor_and_schedule_named_exists():
    from ocb_pipelines.definitions import build_definitions

    defs = build_definitions()

    names = {j.name for j in defs.resolve_all_job_defs()}
    names |= {s.name for s in defs.sensors or []} | {s.name for s in defs.schedules or []}
    named = {m for page in PAGES for m in DAGSTER_NAME.findall(_text(page))}
    assert named, "the docs name no job, sensor or schedule?"
    assert not named - names, f"named in docs/ but not defined: {sorted(named - names)}"


def test_every_config_key_is_in_the_configuration_reference():
    text = _text(DOCS / "configuration.md")
    missing = [k for k in dict.fromkeys(example_keys() + model_keys()) if f"`{k}`" not in text]
    assert not missing, missing


def _import_check(path: Path) -> list[importer.FileImport]:
    with duckdb.connect(":memory:") as con:
        wh.configure(con)
        wh.ensure_schema(con)
        return importer.import_file(con, path, months=importer.inspect_file(path).months, source="docs")


def test_sample_focus_rows_in_the_docs_import(tmp_path):
    blocks = [body for page in PAGES for lang, body in FENCE.findall(_text(page)) if lang == "csv"]
    assert blocks
    for number, body in enumerate(blocks):
        path = tmp_path / f"sample_{number}.csv"
        path.write_text(body, encoding="utf-8")
        results = _import_check(path)
        assert sum(r.rows for r in results) == len(body.strip().splitlines()) - 1


def test_backup_example_gives_a_consistent_restorable_copy(tmp_path):
    sys.path.insert(0, str(DOCS / "examples"))
    try:
        from backup_warehouse import backup
    finally:
        sys.path.remove(str(DOCS / "examples"))
    warehouse = tmp_path / "warehouse.duckdb"
    with wh.connect(warehouse) as con:
        wh.record_audit(con, actor="tester", action="docs_check", period="2025-01", subject="backup")
        before = con.execute("SELECT count(*), max(event_id) FROM audit_events").fetchall()
    folder = backup(warehouse, tmp_path / "backups")
    assert (folder / "schema.sql").is_file() and (folder / "load.sql").is_file()
    with duckdb.connect(str(tmp_path / "restored.duckdb")) as restored:
        restored.execute(f"IMPORT DATABASE '{folder}'")
        assert restored.execute("SELECT count(*), max(event_id) FROM audit_events").fetchall() == before
        assert restored.execute("SELECT nextval('audit_event_seq')").fetchall()[0][0] > before[0][1]
