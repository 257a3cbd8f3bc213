"""The review desk's own state, kept apart from the warehouse: users, roles, API tokens, login throttling,
decision idempotency and the decisions queued while an import holds the warehouse.

It lives in a small SQLite file (`desk.sqlite` beside the warehouse) because DuckDB lets one process write:
a reviewer must be able to sign in, and a decision must be kept, while an import holds the warehouse for a
minute. SQLite's own locking serves several desk processes and the CLI at once.
"""
