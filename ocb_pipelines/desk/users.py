"""Desk users: roles, argon2 password hashes, API tokens, and login throttling.

Roles nest: a viewer sees, a reviewer also decides charges, an admin also closes months, imports, sends and
exports. Tokens are stored as their sha256 only; the token itself is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ocb_pipelines.desk.store import desk_connection

ROLES = ("viewer", "reviewer", "admin")
THROTTLE_FAILURES = 5  # failed logins within THROTTLE_WINDOW_S before a user is held back
THROTTLE_WINDOW_S = 300.0
MIN_PASSWORD_LENGTH = 8
_HASHER = PasswordHasher()


class UserError(ValueError):
    """A user command refused, with the reason in the user's words."""


class LoginThrottled(UserError):
    """Too many failed logins for a user name: try again after `retry_after` seconds."""

    def __init__(self, username: str, retry_after: int):
        super().__init__(f"too many failed sign-ins for {username!r}: try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class DeskUser:
    username: str
    role: str
    display_name: str = ""
    disabled: bool = False

    def can(self, role: str) -> bool:
        """At least `role` (viewer < reviewer < admin)."""
        return not self.disabled and ROLES.index(self.role) >= ROLES.index(role)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user(row) -> DeskUser:
    return DeskUser(row["username"], row["role"], row["display_name"], bool(row["disabled"]))


def _check_name(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._@-" for c in name):
        raise UserError(f"user name {username!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def add_user(path: Path, username: str, role: str, password: str | None, display_name: str = "") -> DeskUser:
    """Create a user. `password` None: the user signs in only through a trusted proxy header or a token."""
    name = _check_name(username)
    if role not in ROLES:
        raise UserError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    hashed = _HASHER.hash(password) if password is not None else None
    with desk_connection(path) as con:
        if con.execute("SELECT 1 FROM desk_users WHERE username = ?", (name,)).fetchone():
            raise UserError(f"user {name!r} exists already")
        con.execute("INSERT INTO desk_users VALUES (?, ?, ?, ?, 0, ?)", (name, role, hashed, display_name, _now()))
    return DeskUser(name, role, display_name)


def list_users(path: Path) -> list[DeskUser]:
    with desk_connection(path) as con:
        return [_user(r) for r in con.execute("SELECT * FROM desk_users ORDER BY username")]


def get_user(path: Path, username: str) -> DeskUser | None:
    with desk_connection(path) as con:
        row = con.execute("SELECT * FROM desk_users WHERE username = ?", (username,)).fetchone()
    return _user(row) if row else None


def disable_user(path: Path, username: str) -> DeskUser:
    """Disable a user: their sessions and tokens stop working at the next request."""
    with desk_connection(path) as con:
        if not con.execute("UPDATE desk_users SET disabled = 1 WHERE username = ? RETURNING username",
                           (username,)).fetchone():
            raise UserError(f"no user {username!r}")
        row = con.execute("SELECT * FROM desk_users WHERE username = ?", (username,)).fetchone()
    return _user(row)


def issue_token(path: Path, username: str) -> str:
    """A new bearer token for `username` (shown once; only its sha256 is kept)."""
    token = "ocb_" + secrets.token_urlsafe(32)
    with desk_connection(path) as con:
        row = con.execute("SELECT disabled FROM desk_users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise UserError(f"no user {username!r}")
        if row["disabled"]:
            raise UserError(f"user {username!r} is disabled")
        con.execute("INSERT INTO desk_tokens VALUES (?, ?, ?)", (_token_hash(token), username, _now()))
    return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(path: Path, token: str) -> DeskUser | None:
    with desk_connection(path) as con:
        row = con.execute("SELECT u.* FROM desk_tokens t JOIN desk_users u USING (username) WHERE t.token_hash = ?",
                          (_token_hash(token),)).fetchone()
    user = _user(row) if row else None
    return user if user and not user.disabled else None


def authenticate(path: Path, username: str, password: str, *, now: float | None = None) -> DeskUser | None:
    """The user if the password is right; None if not. Raises LoginThrottled after too many failures, before
    checking the password, so guessing cannot go faster than THROTTLE_FAILURES per THROTTLE_WINDOW_S."""
    clock = time.time() if now is None else now
    with desk_connection(path) as con:
        con.execute("DELETE FROM desk_login_failures WHERE failed_at < ?", (clock - THROTTLE_WINDOW_S,))
        failures = [r[0] for r in con.execute(
            "SELECT failed_at FROM desk_login_failures WHERE username = ? ORDER BY failed_at", (username,))]
        if len(failures) >= THROTTLE_FAILURES:
            raise LoginThrottled(username, int(failures[0] + THROTTLE_WINDOW_S - clock) + 1)
        row = con.execute("SELECT * FROM desk_users WHERE username = ?", (username,)).fetchone()
        if row and row["password_hash"] and not row["disabled"] and _verifies(row["password_hash"], password):
            con.execute("DELETE FROM desk_login_failures WHERE username = ?", (username,))
            return _user(row)
        con.execute("INSERT INTO desk_login_failures VALUES (?, ?)", (username, clock))
    return None


def _verifies(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
