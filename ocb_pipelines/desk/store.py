"""The desk's SQLite file: one connection per call, WAL, a busy timeout, and the schema created on open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_users (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'reviewer', 'viewer')),
    password_hash TEXT,
    display_name  TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_tokens (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES desk_users(username),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_login_failures (
    username  TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS desk_login_failures_by_user ON desk_login_failures(username, failed_at);
CREATE TABLE IF NOT EXISTS desk_decision_requests (
    idempotency_key TEXT PRIMARY KEY,
    username        TEXT NOT NULL,
    month           TEXT NOT NULL,
    request_json    TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'applied', 'refused')),
    result_json     TEXT,
    received_at     TEXT NOT NULL,
    applied_at      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    rebuild_pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS desk_decision_requests_by_state ON desk_decision_requests(state, received_at);
CREATE INDEX IF NOT EXISTS desk_decision_requests_to_rebuild ON desk_decision_requests(rebuild_pending);
"""


def desk_path(warehouse_path: Path) -> Path:
    """The desk file sits beside the warehouse, so a copied data folder keeps its users and queue."""
    return warehouse_path.with_name("desk.sqlite")


@contextmanager
def desk_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in one transaction (committed on success, rolled back on error) to an up-to-date schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.executescript(SCHEMA)
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()
