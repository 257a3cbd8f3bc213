"""Values as JSON-ready data for every way out of the program (the CLI's --json, the desk's API).

Money stays exact: a Decimal becomes its plain text (core.money.exact_text), never a float, so a script reading
the JSON gets every digit (a JSON number would be read as a float by most clients)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ocb_pipelines.core.money import exact_text


def to_jsonable(value: Any) -> Any:
    """`value` with every Decimal as exact text, paths as text and times as ISO text, through dicts, lists and
    tuples; anything else unchanged."""
    if isinstance(value, Decimal):
        return exact_text(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value
