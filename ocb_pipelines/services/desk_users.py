"""The review desk's users, roles and API tokens (`ocb users`, the desk's sign-in): the desk's own SQLite
file beside the warehouse (ocb_pipelines.desk), so that signing in never waits for an import."""

from __future__ import annotations

from pathlib import Path

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.desk import users
from ocb_pipelines.desk.store import desk_path
from ocb_pipelines.desk.users import ROLES, DeskUser, LoginThrottled, UserError

__all__ = ["ROLES", "DeskUser", "LoginThrottled", "UserError", "add_user", "authenticate", "desk_file",
           "disable_user", "get_user", "issue_token", "list_users", "user_for_token"]


def desk_file(settings: OcbSettings) -> Path:
    return desk_path(settings.warehouse_path)


def add_user(settings: OcbSettings, username: str, role: str, password: str | None,
             display_name: str = "") -> DeskUser:
    return users.add_user(desk_file(settings), username, role, password, display_name)


def list_users(settings: OcbSettings) -> list[DeskUser]:
    return users.list_users(desk_file(settings))


def get_user(settings: OcbSettings, username: str) -> DeskUser | None:
    return users.get_user(desk_file(settings), username)


def disable_user(settings: OcbSettings, username: str) -> DeskUser:
    return users.disable_user(desk_file(settings), username)


def issue_token(settings: OcbSettings, username: str) -> str:
    return users.issue_token(desk_file(settings), username)


def user_for_token(settings: OcbSettings, token: str) -> DeskUser | None:
    return users.user_for_token(desk_file(settings), token)


def authenticate(settings: OcbSettings, username: str, password: str) -> DeskUser | None:
    """The user, None for a wrong name or password; LoginThrottled after too many failures."""
    return users.authenticate(desk_file(settings), username, password)
