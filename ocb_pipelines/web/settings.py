"""The desk's settings: the `web:` block of config.yaml, as OpenChargeback has it, plus what ocb adds."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.services.desk_users import desk_file

DEFAULT_SESSION_HOURS = 8.0


@dataclass(frozen=True)
class DeskSettings:
    """`web.secret_key` signs the session cookies (`${WEB_SECRET_KEY}`, as OpenChargeback's config has it).
    Unset: a random key for this process, so sessions end when the desk restarts (a warning says so).

    `trusted_user_header` (e.g. X-Remote-User): sign in the user a reverse proxy names, for single sign-on.
    Only set it when the desk is reachable through that proxy alone. `dagster_url`: where run links point.
    `secure_cookie`: mark the session cookie Secure (sent over HTTPS only): set it behind a TLS proxy."""

    secret_key: str
    session_hours: float
    trusted_user_header: str | None
    dagster_url: str
    desk_db: Path
    secret_generated: bool = False
    secure_cookie: bool = False

    @classmethod
    def from_settings(cls, settings: OcbSettings) -> DeskSettings:
        web: dict[str, Any] = settings.web or {}
        key = str(web.get("secret_key") or "").strip()
        header = str(web.get("trusted_user_header") or "").strip() or None
        return cls(
            secret_key=key or secrets.token_hex(32),
            session_hours=float(web.get("session_lifetime_hours") or DEFAULT_SESSION_HOURS),
            trusted_user_header=header,
            dagster_url=str(web.get("dagster_url") or "http://127.0.0.1:3000").rstrip("/"),
            desk_db=desk_file(settings),
            secret_generated=not key,
            secure_cookie=str(web.get("secure_cookie", "")).strip().lower() in ("true", "1", "yes"),
        )
