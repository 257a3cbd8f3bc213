"""Where the configuration file is and how its text is read: the path, `${ENV}` expansion, YAML, ignored keys.

Split from `core.config` (the settings model), which re-exports these names. OpenChargeback's `config.yaml`
loads unchanged: an unset `${VAR}` in a secret it may leave empty (DEFERRED_ENV_KEYS) or in a block with no
effect here (IGNORED_BLOCKS) reads as empty, as OpenChargeback reads it, and fails only when the value is needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml

from ocb_pipelines.core.yaml_strict import DuplicateKeyError, safe_load_unique

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONFIG_ENV_VAR = "OCB_CONFIG"
# Blocks accepted for OpenChargeback compatibility that have no effect here (reported by `ignored_keys`).
IGNORED_BLOCKS = ("logging", "web", "sources")
# ...but for these keys of `web:`, which the review desk (`ocb serve`, web/settings.py) reads.
DESK_WEB_KEYS = ("secret_key", "session_lifetime_hours", "trusted_user_header", "dagster_url", "secure_cookie")
# Values whose unset `${VAR}` reads as "" at load and fails only where the value is needed (require_env).
DEFERRED_ENV_KEYS = ("smtp.username", "smtp.password")


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message says where and why."""


def _deferred(where: str) -> bool:
    return where in DEFERRED_ENV_KEYS or where.split(".")[0].split("[")[0] in IGNORED_BLOCKS


def expand_env(value: Any, environ: dict[str, str] | None = None, where: str = "",
               unset: dict[str, str] | None = None) -> Any:
    """Replace `${VAR}` (and `${VAR:-default}`) in every string of a parsed YAML tree.

    An unset variable without a default is an error naming the key, not an empty string: an empty value
    would otherwise surface far away (a path, a host). When `unset` is given, the keys of DEFERRED_ENV_KEYS
    and of the ignored blocks read an unset variable as "" (as OpenChargeback does) and record {key: VAR}
    in `unset`, so the error comes when the value is needed (OcbSettings.require_env).
    """
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{where}.{k}" if where else str(k), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]", unset) for i, v in enumerate(value)]
    if isinstance(value, str):

        def _sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            if unset is not None and _deferred(where):
                unset.setdefault(where, name)
                return ""
            raise ConfigError(f"{where}: environment variable ${{{name}}} is not set")

        return ENV_REF.sub(_sub, value)
    return value


_bound_config_path: ContextVar[Path | None] = ContextVar("ocb_bound_config_path", default=None)


@contextmanager
def config_bound_to(path: str | Path | None) -> Iterator[None]:
    """While the Dagster definitions load, `resolve_config_path(None)` answers `path`: the defs folder's resources
    and schedule are then bound to the file the command was given (`ocb -c PATH`), not to $OCB_CONFIG."""
    token = _bound_config_path.set(resolve_config_path(path))
    try:
        yield
    finally:
        _bound_config_path.reset(token)


def resolve_config_path(explicit: str | Path | None = None) -> Path:
    """`-c PATH`, else the file the definitions are being loaded for, else $OCB_CONFIG, else ./config.yaml."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if (bound := _bound_config_path.get()) is not None:
        return bound
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR]).expanduser().resolve()
    return (Path.cwd() / "config.yaml").resolve()


def read_yaml(config_path: Path) -> Any:
    """The parsed file; ConfigError for YAML that does not parse or a key written twice (named, with its lines)."""
    try:
        return safe_load_unique(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    except DuplicateKeyError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None


def ignored_keys_in(raw: dict[str, Any]) -> tuple[str, ...]:
    """The keys of IGNORED_BLOCKS written in the file, one level deep (`web.users`, not each user), but for the
    desk's (DESK_WEB_KEYS)."""
    found: list[str] = []
    for block in IGNORED_BLOCKS:
        if block not in raw:
            continue
        value = raw[block]
        if block != "sources" and isinstance(value, dict) and value:
            found.extend(f"{block}.{key}" for key in value if not (block == "web" and key in DESK_WEB_KEYS))
        else:
            found.append(block)
    return tuple(found)
