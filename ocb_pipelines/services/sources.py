"""The sources of billing data, which are configuration (`imports.known_sources`), with what was imported from each.

`add_known_source` edits config.yaml as a round trip (ruamel.yaml): the user's comments, key order, quoting and
indentation survive, and the new entry takes the style of its siblings. The result is validated with the
project's own configuration model before it replaces the file atomically, so a refused change leaves the
file byte-identical.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ocb_pipelines.core.config import ConfigError, KnownSource, load_config
from ocb_pipelines.services.context import AppContext

_BLOCK_KEY = re.compile(r"^[^#'\"]*:\s*(#.*)?$")  # `key:` whose value is the indented block below it


class SourceRefused(ValueError):
    """The source cannot be added; the message says why (the config file is untouched)."""


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as written in the file, for ruamel's emitter."""
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip()) for raw in text.splitlines()
             if raw.strip() and not raw.lstrip().startswith("#")]
    mapping = offset = sequence = None
    for (indent, body), (child_indent, child) in itertools.pairwise(lines):
        if child_indent < indent or not _BLOCK_KEY.match(body):
            continue
        if child == "-" or child.startswith("- "):  # a block sequence, its dashes indented or not
            if offset is None:
                offset = child_indent - indent
                after = child[1:]
                sequence = offset + 1 + (len(after) - len(after.lstrip(" ")))
        elif mapping is None and child_indent > indent:
            mapping = child_indent - indent
    mapping = mapping or 2
    if offset is None:
        offset, sequence = mapping, mapping + 2
    return mapping, max(sequence or 0, offset + 2), offset


def _check_entry(settings, entry: dict[str, str]) -> list[str]:
    """Refuse what would break imports or the journal; return warnings for what is merely incomplete."""
    from ocb_pipelines.ledger.journal import account_ok, parse_fund_org

    name = entry["name"]
    if settings.source(name) is not None:
        raise SourceRefused(f"source {name!r} is already in imports.known_sources of {settings.config_path}")
    pattern = entry["pattern"]
    if not pattern.strip() or pattern != pattern.strip():
        raise SourceRefused(f"pattern {pattern!r} must be non-empty text without leading or trailing spaces")
    if re.search(r"[/\\\x00-\x1f]", pattern):
        raise SourceRefused(f"pattern {pattern!r} can never appear in a file name (no slashes or control characters)")
    for other in settings.imports.known_sources:
        if other.pattern.lower() == pattern.lower():
            raise SourceRefused(f"pattern {pattern!r} is already the pattern of source {other.name!r}: a file name "
                                f"would not tell them apart")
    journal = settings.journal
    if entry.get("fund_org") and parse_fund_org(entry["fund_org"], journal.fund_org_regex) is None:
        raise SourceRefused(f"fund_org {entry['fund_org']!r} does not match journal.fund_org_regex "
                            f"{journal.fund_org_regex!r}")
    if entry.get("account_code") and not account_ok(entry["account_code"], journal.account_code_regex):
        raise SourceRefused(f"account_code {entry['account_code']!r} does not match journal.account_code_regex "
                            f"{journal.account_code_regex!r}")
    warnings = []
    if not entry.get("fund_org"):
        warnings.append(f"no --fund-org: the GL journal export refuses months with {name} charges until "
                        f"imports.known_sources has its fund_org")
    return warnings


def add_known_source(config_path: str | Path | None, entry: dict[str, str]) -> dict[str, Any]:
    """Append a source to imports.known_sources in the config file, keeping its comments and layout.

    Validated with load_config on a temporary copy beside the file, then swapped in with os.replace;
    any refusal leaves the file as it was."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import ScalarString

    settings = load_config(config_path)  # the file as it is must be valid (ConfigError otherwise)
    path = settings.config_path
    entry = {k: v for k, v in entry.items() if v not in (None, "")}
    entry.setdefault("pattern", entry["name"])
    try:
        KnownSource.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SourceRefused(f"{where or 'source'} {entry.get(where, '')!r}: {first['msg']}") from None
    warnings = _check_entry(settings, entry)

    text = path.read_text(encoding="utf-8")
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    mapping, sequence, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    data = yaml.load(text)
    if data is None:
        data = CommentedMap()
    imports = data.get("imports")
    if imports is None:
        imports = data["imports"] = CommentedMap()
    sources = imports.get("known_sources")
    if sources is None:
        sources = imports["known_sources"] = CommentedSeq()
    new = CommentedMap(entry)
    if len(sources) and isinstance(sources[-1], dict):  # quote each value as the previous entry does
        for key, value in entry.items():
            quoted = sources[-1].get(key)
            if isinstance(quoted, ScalarString) and isinstance(quoted, str):
                new[key] = type(quoted)(value)
    if len(sources) and all(getattr(s, "fa", None) is not None and s.fa.flow_style() for s in sources):
        new.fa.set_flow_style()  # siblings are {name: ..., ...} one-liners: so is the new one
    sources.append(new)
    out = io.StringIO()
    yaml.dump(data, out)

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(out.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        try:
            checked = load_config(tmp)
        except ConfigError as exc:
            raise SourceRefused(str(exc).replace(str(tmp), str(path))) from None
        if checked.source(entry["name"]) is None:  # e.g. a YAML anchor or merge key the edit did not reach
            raise SourceRefused(f"the edited {path.name} does not list {entry['name']!r}; add it by hand")
        if path.read_text(encoding="utf-8") != text:  # someone saved the file meanwhile: keep their edit
            raise SourceRefused(f"{path.name} changed while the source was being added; run the command again")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    after = set(out.getvalue().splitlines())
    changed = sum(1 for line in text.splitlines() if line not in after)
    return {"config": str(path), "source": entry, "warnings": warnings, "reformatted_lines": changed}


def list_sources(ctx: AppContext) -> list[dict[str, Any]]:
    """Each configured source with what was imported from it (files, rows, months, last import), then the sources
    imported with `-s` that the configuration does not list (their journal credit has no fund). Before the first
    import (no warehouse yet) every count is zero."""
    settings = ctx.settings
    stats: dict[str, dict[str, Any]] = {}
    if settings.warehouse_path.exists():
        with ctx.connection() as con:
            stats = {
                s: {"files": f, "rows": n, "months": m, "last_import": str(last) if last else None}
                for s, f, n, m, last in con.execute(
                    "SELECT source, count(DISTINCT file_name), sum(row_count), list(DISTINCT billing_month ORDER BY "
                    "billing_month), max(imported_at) FROM import_files GROUP BY source"
                ).fetchall()
            }
    names = [s.name.lower() for s in settings.imports.known_sources]
    rows = []
    for source in settings.imports.known_sources:
        rows.append({"name": source.name, "display_name": source.display_name, "pattern": source.pattern,
                     "fund_org": source.fund_org, "account_code": source.account_code, "configured": True,
                     **stats.get(source.name.lower(), {"files": 0, "rows": 0, "months": [], "last_import": None})})
    for name, stat in sorted(stats.items()):
        if name not in names:
            rows.append({"name": name, "display_name": "", "pattern": "", "fund_org": "", "account_code": "",
                         "configured": False, **stat})
    return rows
