"""`ocb serve` (the review desk) and `ocb users` (who may use it, and with which role)."""

from __future__ import annotations

import click

from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, settings_or_exit
from ocb_pipelines.services import desk_users
from ocb_pipelines.services.desk_users import ROLES, UserError

DESK_PORT = 8000  # `ocb serve`'s default port (the Dagster UI's is 3000)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DESK_PORT, show_default=True, type=int, help="Port to listen on.")
@config_option
def serve_command(host, port, config_path):
    """Run the review desk: the web page for reviewers and admins (add users with `ocb users add`)."""
    from ocb_pipelines.web.serve import serve  # FastAPI and uvicorn load only for this command

    settings = settings_or_exit(config_path, new_warehouse_ok=True)
    if not desk_users.list_users(settings):
        click.echo("No desk user yet: add one with `ocb users add NAME --role admin`.", err=True)
    click.echo(f"Review desk on http://{host}:{port}/ (Ctrl+C stops it)")
    serve(settings, host=host, port=port)


@click.group("users")
def users_group():
    """The review desk's users: admin (everything), reviewer (decides charges), viewer (sees)."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--display-name", default="", help="The name pages show.")
@click.option("--password", default=None, help="Default: asked for (hidden). Use $OCB_PASSWORD in scripts.",
              envvar="OCB_PASSWORD")
@click.option("--no-password", is_flag=True, help="No password: signs in by token or a trusted proxy header only.")
@config_option
@json_option
def users_add(name, role, display_name, password, no_password, config_path, as_json):
    """Add a desk user."""
    settings = settings_or_exit(config_path, new_warehouse_ok=True)
    if not no_password and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = desk_users.add_user(settings, name, role, None if no_password else password, display_name)
    except UserError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json({"ok": True, "user": user.username, "role": user.role})
    else:
        click.echo(f"added {user.username} ({user.role})")


@users_group.command("list")
@config_option
@json_option
def users_list(config_path, as_json):
    """List the desk users and their roles."""
    users = desk_users.list_users(settings_or_exit(config_path, new_warehouse_ok=True))
    if as_json:
        emit_json({"ok": True, "users": [{"user": u.username, "role": u.role, "display_name": u.display_name,
                                          "disabled": u.disabled} for u in users]})
        return
    for u in users:
        state = "disabled" if u.disabled else "active"
        click.echo("\t".join((u.username, u.role, state, u.display_name)).rstrip())


@users_group.command("disable")
@click.argument("name")
@config_option
@json_option
def users_disable(name, config_path, as_json):
    """Disable a user: their sessions and tokens stop at the next request."""
    try:
        user = desk_users.disable_user(settings_or_exit(config_path, new_warehouse_ok=True), name)
    except UserError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json({"ok": True, "user": user.username, "disabled": True})
    else:
        click.echo(f"disabled {user.username}")


@users_group.command("token")
@click.argument("name")
@config_option
@json_option
def users_token(name, config_path, as_json):
    """Issue an API bearer token for scripts (shown once: only its hash is kept)."""
    try:
        token = desk_users.issue_token(settings_or_exit(config_path, new_warehouse_ok=True), name)
    except UserError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json({"ok": True, "user": name, "token": token})
    else:
        click.echo(token)
