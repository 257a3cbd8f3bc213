"""The warehouse: the one way the application reaches its database, below every domain and above core only.

Today the engine is a DuckDB file. Another engine (MotherDuck, PostgreSQL) would stand behind the same
interface, as a sibling package or in place of these modules, and must provide:
- a Dagster resource with `get_connection()`, a context manager that works without a Dagster context
  (resource.py: `Warehouse`, a dagster-duckdb DuckDBResource), built from the configuration
  (`Warehouse.for_settings`, or `config_path`) with its limits applied to every connection;
- `connect(path, memory_limit, threads)` (connection.py): a connection with the session settings (UTC, limits),
  the schema ensured, and a bounded wait for another writer ending in one clear `WarehouseLockedError`;
- `transaction(con)`: all or nothing (transaction.py);
- `ensure_schema(con)` (schema/): every domain's tables, created idempotently and upgraded from older releases,
  with amounts in an exact decimal type (`MONEY`, never a float);
- the period guard (`ensure_period_open`, `PeriodLockedError`: period_guard.py) and the audit log
  (`record_audit`, `current_actor`: audit.py) over its connections;
- the pinned charge identity and row_hash formulas (identity.py), which stored review decisions refer to.
The domains also write DuckDB SQL of their own (read_csv, lists, RE2 regexes); an engine that does not speak
it needs those queries too. Callers import the API as `from ocb_pipelines.warehouse import database as wh`.
"""
