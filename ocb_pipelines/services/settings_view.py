"""What the desk's settings page shows: the effective configuration with its secrets masked, and a preview of
what a candidate review pattern would flag in a month.

Masking goes by the key's name (any key naming a password, secret, token or key, and smtp.username), at any
depth: the OpenChargeback-compatible `web:` and `sources:` blocks hold whatever the user wrote there.
"""

from __future__ import annotations

from typing import Any

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.review.pattern_preview import PatternPreview, pattern_preview
from ocb_pipelines.services.context import AppContext

MASK = "********"
SECRET_WORDS = ("password", "secret", "token", "key")
SECRET_KEYS = ("smtp.username",)


def is_secret(dotted_key: str) -> bool:
    """Whether the value of this key (`smtp.password`, `web.secret_key`, `sources.x.api_token`) is a secret."""
    last = dotted_key.rsplit(".", 1)[-1].lower()
    return dotted_key.lower() in SECRET_KEYS or any(word in last for word in SECRET_WORDS)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
        if not value and prefix:
            out.append((prefix, ""))
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for index, inner in enumerate(value):
            _flatten(f"{prefix}[{index}]", inner, out)
    elif is_secret(prefix):
        out.append((prefix, MASK if value not in (None, "") else ""))
    elif isinstance(value, list):
        out.append((prefix, ", ".join(str(v) for v in value)))
    else:
        out.append((prefix, "" if value is None else str(value)))


def effective_config(settings: OcbSettings) -> list[tuple[str, str]]:
    """Every setting in effect (defaults included, paths resolved) as (dotted key, text); a secret that is set
    reads MASK, one that is empty reads ''."""
    out: list[tuple[str, str]] = []
    _flatten("", settings.model_dump(mode="json"), out)
    return out


def preview_flag_pattern(ctx: AppContext, month: str, pattern: str, *, limit: int = 100) -> PatternPreview:
    """The charges of `month` a review.flag_patterns entry `pattern` would flag (PatternError when RE2 cannot
    compile it), as the import's validation would judge them."""
    with ctx.connection() as con:
        return pattern_preview(con, month, pattern, limit=limit)
