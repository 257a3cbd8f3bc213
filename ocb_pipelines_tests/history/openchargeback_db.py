"""A billing.db as OpenChargeback itself writes it, for the import-history tests.

DDL: what SQLAlchemy emits for SQLite from OpenChargeback's `src/openchargeback/db/tables.py` at commit 2fb6088
(github.com/atmarx/OpenChargeback, schema_version 10), copied verbatim. `OcbRepository` writes rows the way its
`src/openchargeback/db/repository.py` does at that commit: DateTime as SQLAlchemy stores it on SQLite (naive
`YYYY-MM-DD HH:MM:SS.ffffff`, from `datetime.now()`), CURRENT_TIMESTAMP defaults where it passes no value,
booleans as 0/1, money as REAL, raw tags as `json.dumps(dict)`, the charges upsert on its natural key, and the
web routes' review, statement, email and journal logging. Every person, address and amount is fictional.
"""
# ruff: noqa: E501  (the DDL is copied as SQLAlchemy emits it, long constraint lines included)

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

DDL = """
CREATE TABLE billing_periods (
	id INTEGER NOT NULL,
	period VARCHAR(7) NOT NULL,
	status VARCHAR(20) DEFAULT 'open',
	opened_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	closed_at DATETIME,
	closed_by VARCHAR(200),
	finalized_at DATETIME,
	finalized_by VARCHAR(200),
	reopened_at DATETIME,
	reopened_by VARCHAR(200),
	reopen_reason TEXT,
	notes TEXT,
	CONSTRAINT pk_billing_periods PRIMARY KEY (id),
	CONSTRAINT ck_billing_periods_status_check CHECK (status IN ('open', 'closed', 'finalized')),
	CONSTRAINT uq_billing_periods_period UNIQUE (period)
);
CREATE TABLE schema_version (
	version INTEGER NOT NULL,
	applied_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT pk_schema_version PRIMARY KEY (version)
);
CREATE TABLE sources (
	id INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	display_name VARCHAR(200),
	source_type VARCHAR(20) NOT NULL,
	enabled BOOLEAN DEFAULT '1',
	last_sync_at DATETIME,
	last_sync_status VARCHAR(20),
	last_sync_message TEXT,
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT pk_sources PRIMARY KEY (id),
	CONSTRAINT ck_sources_source_type_check CHECK (source_type IN ('file', 'api')),
	CONSTRAINT ck_sources_sync_status_check CHECK (last_sync_status IN ('success', 'error') OR last_sync_status IS NULL),
	CONSTRAINT uq_sources_name UNIQUE (name)
);
CREATE TABLE users (
	id INTEGER NOT NULL,
	username VARCHAR(100) NOT NULL,
	email VARCHAR(254) NOT NULL,
	display_name VARCHAR(200),
	password_hash VARCHAR(200) NOT NULL,
	role VARCHAR(20) DEFAULT 'viewer' NOT NULL,
	is_config_user BOOLEAN DEFAULT '0',
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	created_by VARCHAR(100),
	CONSTRAINT pk_users PRIMARY KEY (id),
	CONSTRAINT ck_users_user_role_check CHECK (role IN ('admin', 'reviewer', 'viewer')),
	CONSTRAINT uq_users_username UNIQUE (username)
);
CREATE INDEX idx_users_email ON users (email);
CREATE TABLE charges (
	id INTEGER NOT NULL,
	billing_period_id INTEGER NOT NULL,
	source_id INTEGER NOT NULL,
	charge_period_start VARCHAR(10),
	charge_period_end VARCHAR(10),
	list_cost FLOAT,
	contracted_cost FLOAT,
	billed_cost FLOAT NOT NULL,
	effective_cost FLOAT,
	resource_id VARCHAR(500),
	resource_name VARCHAR(500),
	service_name VARCHAR(200),
	pi_email VARCHAR(254) NOT NULL,
	project_id VARCHAR(200),
	fund_org VARCHAR(100),
	reference_1 VARCHAR(200),
	reference_2 VARCHAR(200),
	raw_tags TEXT,
	needs_review BOOLEAN DEFAULT '0',
	review_reason TEXT,
	reviewed_at DATETIME,
	reviewed_by VARCHAR(200),
	imported_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	rejected_at DATETIME,
	rejected_by VARCHAR(200),
	rejection_note TEXT,
	CONSTRAINT pk_charges PRIMARY KEY (id),
	CONSTRAINT uq_charges_natural_key UNIQUE (billing_period_id, source_id, resource_id, charge_period_start),
	CONSTRAINT fk_charges_billing_period_id_billing_periods FOREIGN KEY(billing_period_id) REFERENCES billing_periods (id) ON DELETE CASCADE,
	CONSTRAINT fk_charges_source_id_sources FOREIGN KEY(source_id) REFERENCES sources (id) ON DELETE CASCADE
);
CREATE INDEX idx_charges_pi_email ON charges (pi_email);
CREATE INDEX idx_charges_needs_review ON charges (needs_review) WHERE needs_review = 1;
CREATE INDEX idx_charges_billing_period ON charges (billing_period_id);
CREATE TABLE imports (
	id INTEGER NOT NULL,
	filename VARCHAR(500) NOT NULL,
	source_id INTEGER NOT NULL,
	billing_period_id INTEGER NOT NULL,
	row_count INTEGER,
	total_cost FLOAT,
	flagged_rows INTEGER DEFAULT '0',
	flagged_cost FLOAT DEFAULT '0',
	imported_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT pk_imports PRIMARY KEY (id),
	CONSTRAINT fk_imports_source_id_sources FOREIGN KEY(source_id) REFERENCES sources (id) ON DELETE CASCADE,
	CONSTRAINT fk_imports_billing_period_id_billing_periods FOREIGN KEY(billing_period_id) REFERENCES billing_periods (id) ON DELETE CASCADE
);
CREATE INDEX idx_imports_billing_period ON imports (billing_period_id);
CREATE TABLE journal_exports (
	id INTEGER NOT NULL,
	billing_period_id INTEGER NOT NULL,
	format VARCHAR(20) NOT NULL,
	include_flagged BOOLEAN,
	row_count INTEGER,
	total_cost FLOAT,
	exported_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	exported_by VARCHAR(200),
	filename VARCHAR(500),
	CONSTRAINT pk_journal_exports PRIMARY KEY (id),
	CONSTRAINT fk_journal_exports_billing_period_id_billing_periods FOREIGN KEY(billing_period_id) REFERENCES billing_periods (id) ON DELETE CASCADE
);
CREATE INDEX idx_journal_exports_period ON journal_exports (billing_period_id);
CREATE INDEX idx_journal_exports_exported_at ON journal_exports (exported_at);
CREATE TABLE review_logs (
	id INTEGER NOT NULL,
	billing_period_id INTEGER NOT NULL,
	charge_id INTEGER NOT NULL,
	action VARCHAR(20) NOT NULL,
	pi_email VARCHAR(254) NOT NULL,
	resource_id VARCHAR(500),
	service_name VARCHAR(200),
	amount FLOAT NOT NULL,
	note TEXT,
	performed_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	performed_by VARCHAR(200),
	CONSTRAINT pk_review_logs PRIMARY KEY (id),
	CONSTRAINT ck_review_logs_review_action_check CHECK (action IN ('approved', 'rejected')),
	CONSTRAINT fk_review_logs_billing_period_id_billing_periods FOREIGN KEY(billing_period_id) REFERENCES billing_periods (id) ON DELETE CASCADE
);
CREATE INDEX idx_review_logs_period ON review_logs (billing_period_id);
CREATE INDEX idx_review_logs_performed_at ON review_logs (performed_at);
CREATE TABLE statements (
	id INTEGER NOT NULL,
	billing_period_id INTEGER NOT NULL,
	pi_email VARCHAR(254) NOT NULL,
	project_id VARCHAR(200),
	fund_org VARCHAR(100),
	total_cost FLOAT NOT NULL,
	project_count INTEGER,
	generated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	sent_at DATETIME,
	pdf_path VARCHAR(500),
	CONSTRAINT pk_statements PRIMARY KEY (id),
	CONSTRAINT uq_statements_period_pi_project UNIQUE (billing_period_id, pi_email, project_id),
	CONSTRAINT fk_statements_billing_period_id_billing_periods FOREIGN KEY(billing_period_id) REFERENCES billing_periods (id) ON DELETE CASCADE
);
CREATE INDEX idx_statements_billing_period ON statements (billing_period_id);
CREATE TABLE email_logs (
	id INTEGER NOT NULL,
	statement_id INTEGER,
	recipient VARCHAR(254) NOT NULL,
	subject VARCHAR(500),
	sent_at DATETIME DEFAULT CURRENT_TIMESTAMP,
	sent_by VARCHAR(200),
	status VARCHAR(20) NOT NULL,
	error_message TEXT,
	CONSTRAINT pk_email_logs PRIMARY KEY (id),
	CONSTRAINT ck_email_logs_email_status_check CHECK (status IN ('success', 'error', 'dev_mode')),
	CONSTRAINT fk_email_logs_statement_id_statements FOREIGN KEY(statement_id) REFERENCES statements (id) ON DELETE SET NULL
);
CREATE INDEX idx_email_logs_sent_at ON email_logs (sent_at);
CREATE INDEX idx_email_logs_recipient ON email_logs (recipient);
"""
SCHEMA_VERSION = 10
CHARGE_UPDATE_COLUMNS = (
    "list_cost", "contracted_cost", "billed_cost", "effective_cost", "resource_name", "service_name", "pi_email",
    "project_id", "fund_org", "reference_1", "reference_2", "raw_tags", "needs_review", "review_reason",
)  # fmt: skip


def stored(moment: datetime) -> str:
    """SQLAlchemy's DateTime on SQLite: naive, space-separated, with microseconds."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class OcbRepository:
    """The writes of OpenChargeback's Database class, with a clock the test sets (it calls datetime.now())."""

    def __init__(self, path: Path, start: datetime):
        self.con = sqlite3.connect(path)
        self.con.execute("PRAGMA foreign_keys=ON")
        self.clock = start

    def now(self, minutes: int = 1) -> str:
        self.clock += timedelta(minutes=minutes)
        return stored(self.clock)

    def initialize(self) -> None:
        self.con.executescript(DDL)
        self.con.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION])
        self.con.commit()

    def close(self) -> None:
        self.con.commit()
        self.con.close()

    def _insert(self, table: str, values: dict[str, Any]) -> int:
        columns = ", ".join(values)
        cursor = self.con.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(values))})",
                                  list(values.values()))
        self.con.commit()
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def get_or_create_period(self, period: str) -> int:
        row = self.con.execute("SELECT id FROM billing_periods WHERE period = ?", [period]).fetchone()
        return row[0] if row else self._insert("billing_periods", {"period": period, "opened_at": self.now()})

    def get_or_create_source(self, name: str, display_name: str | None = None) -> int:
        row = self.con.execute("SELECT id FROM sources WHERE name = ?", [name]).fetchone()
        if row:
            return row[0]
        return self._insert("sources", {"name": name, "display_name": display_name or name, "source_type": "file",
                                        "created_at": self.now()})

    def insert_charge(self, period_id: int, source_id: int, *, billed: float, pi_email: str,
                      resource_id: str | None, charge_period_start: str | None = None,
                      charge_period_end: str | None = None, list_cost: float | None = None,
                      contracted_cost: float | None = None, effective_cost: float | None = None,
                      resource_name: str | None = None, service_name: str | None = None,
                      project_id: str | None = None, fund_org: str | None = None, reference_1: str | None = None,
                      raw_tags: dict[str, Any] | None = None, needs_review: bool = False,
                      review_reason: str | None = None) -> int:
        """insert_charges for one charge: INSERT ... ON CONFLICT (natural key) DO UPDATE (imported_at defaulted)."""
        values = {
            "billing_period_id": period_id, "source_id": source_id, "charge_period_start": charge_period_start,
            "charge_period_end": charge_period_end, "list_cost": list_cost, "contracted_cost": contracted_cost,
            "billed_cost": billed, "effective_cost": effective_cost, "resource_id": resource_id,
            "resource_name": resource_name, "service_name": service_name, "pi_email": pi_email,
            "project_id": project_id, "fund_org": fund_org, "reference_1": reference_1, "reference_2": None,
            "raw_tags": json.dumps(raw_tags) if raw_tags else None, "needs_review": int(needs_review),
            "review_reason": review_reason,
        }  # fmt: skip
        updates = ", ".join(f"{c} = excluded.{c}" for c in CHARGE_UPDATE_COLUMNS)
        self.con.execute(
            f"INSERT INTO charges ({', '.join(values)}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (billing_period_id, source_id, resource_id, charge_period_start) DO UPDATE SET {updates}",
            list(values.values()),
        )
        self.con.commit()
        return self.con.execute(
            "SELECT id FROM charges WHERE billing_period_id = ? AND source_id = ? AND resource_id IS ? "
            "AND charge_period_start IS ? ORDER BY id DESC", [period_id, source_id, resource_id, charge_period_start],
        ).fetchone()[0]

    def log_import(self, filename: str, source_id: int, period_id: int, rows: int, total: float,
                   flagged_rows: int = 0, flagged_cost: float = 0.0) -> int:
        return self._insert("imports", {"filename": filename, "source_id": source_id, "billing_period_id": period_id,
                                        "row_count": rows, "total_cost": total, "flagged_rows": flagged_rows,
                                        "flagged_cost": flagged_cost})

    def approve_charge(self, charge_id: int, performed_by: str | None) -> bool:
        cursor = self.con.execute("UPDATE charges SET needs_review = 0, reviewed_at = ?, reviewed_by = ? "
                                  "WHERE id = ? AND needs_review = 1", [self.now(), performed_by, charge_id])
        self.con.commit()
        return cursor.rowcount > 0

    def reject_charge(self, charge_id: int, performed_by: str | None, note: str | None) -> bool:
        at = self.now()
        cursor = self.con.execute(
            "UPDATE charges SET needs_review = 0, rejected_at = ?, rejected_by = ?, rejection_note = ?, "
            "reviewed_at = ?, reviewed_by = ? WHERE id = ? AND needs_review = 1",
            [at, performed_by, note, at, performed_by, charge_id])
        self.con.commit()
        return cursor.rowcount > 0

    def log_review_action(self, period_id: int, charge_id: int, action: str, note: str | None,
                          performed_by: str | None) -> int:
        """The web route's log row after an approve or reject (performed_at: CURRENT_TIMESTAMP, UTC)."""
        pi, resource, service, amount = self.con.execute(
            "SELECT pi_email, resource_id, service_name, billed_cost FROM charges WHERE id = ?", [charge_id]).fetchone()
        return self._insert("review_logs", {"billing_period_id": period_id, "charge_id": charge_id, "action": action,
                                            "pi_email": pi, "resource_id": resource, "service_name": service,
                                            "amount": amount, "note": note, "performed_by": performed_by})

    def update_period_status(self, period: str, status: str, performed_by: str | None, notes: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "notes": notes}
        if status == "closed":
            values |= {"closed_at": self.now(), "closed_by": performed_by}
        elif status == "finalized":
            values |= {"finalized_at": self.now(), "finalized_by": performed_by}
        sets = ", ".join(f"{k} = ?" for k in values)
        self.con.execute(f"UPDATE billing_periods SET {sets} WHERE period = ?", [*values.values(), period])
        self.con.commit()

    def reopen_period(self, period: str, reason: str, performed_by: str | None) -> None:
        self.con.execute("UPDATE billing_periods SET status = 'open', reopened_at = ?, reopened_by = ?, "
                         "reopen_reason = ? WHERE period = ? AND status = 'closed'",
                         [self.now(), performed_by, reason, period])
        self.con.commit()

    def upsert_statement(self, period_id: int, pi_email: str, project_id: str, fund_org: str | None,
                         total: float, pdf_path: str) -> int:
        self.con.execute(
            "INSERT INTO statements (billing_period_id, pi_email, project_id, fund_org, total_cost, project_count, "
            "pdf_path, generated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (billing_period_id, pi_email, "
            "project_id) DO UPDATE SET total_cost = excluded.total_cost, fund_org = excluded.fund_org, "
            "project_count = excluded.project_count, pdf_path = excluded.pdf_path, generated_at = excluded.generated_at",
            [period_id, pi_email, project_id, fund_org, total, pdf_path, self.now()])
        self.con.commit()
        return self.con.execute("SELECT id FROM statements WHERE billing_period_id = ? AND pi_email = ? AND "
                                "project_id = ?", [period_id, pi_email, project_id]).fetchone()[0]

    def mark_statement_sent(self, statement_id: int) -> None:
        self.con.execute("UPDATE statements SET sent_at = ? WHERE id = ?", [self.now(), statement_id])
        self.con.commit()

    def log_email(self, recipient: str, subject: str, status: str, sent_by: str | None, statement_id: int | None,
                  error_message: str | None = None) -> int:
        return self._insert("email_logs", {"recipient": recipient, "subject": subject, "status": status,
                                           "sent_by": sent_by, "statement_id": statement_id,
                                           "error_message": error_message, "sent_at": self.now()})

    def log_journal_export(self, period_id: int, fmt: str, include_flagged: bool, rows: int, total: float,
                           exported_by: str | None, filename: str) -> int:
        return self._insert("journal_exports", {"billing_period_id": period_id, "format": fmt,
                                                "include_flagged": int(include_flagged), "row_count": rows,
                                                "total_cost": total, "exported_by": exported_by,
                                                "filename": filename})
