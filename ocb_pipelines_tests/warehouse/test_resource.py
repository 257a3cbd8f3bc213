"""One way to open the warehouse: the `Warehouse` resource is dagster-duckdb's DuckDBResource, and the CLI's
path (AppContext.connection) and Dagster runs get the same configured memory limit and threads from it."""

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from ocb_pipelines.core.config import load_config
from ocb_pipelines.defs import resources as defs_resources
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.warehouse.resource import Warehouse

LIMITS = "SELECT current_setting('memory_limit'), current_setting('threads')"


def _limited_settings(workdir):
    """The example configuration with a memory limit and one thread (neither is DuckDB's default here)."""
    config = workdir / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("  path: data/warehouse.duckdb\n",
                                   "  path: data/warehouse.duckdb\n  memory_limit: 300MB\n  threads: 1\n", 1),
                      encoding="utf-8")
    return load_config(config)


def _expected_limits() -> tuple:
    """How DuckDB reports 300MB and 1 thread (it prints the limit in MiB)."""
    with duckdb.connect(":memory:") as con:
        con.execute("SET memory_limit = '300MB'")
        con.execute("SET threads = 1")
        return con.execute(LIMITS).fetchone()


def test_the_warehouse_resource_is_a_duckdb_resource(settings):
    assert issubclass(Warehouse, DuckDBResource) and issubclass(defs_resources.Warehouse, Warehouse)
    bound = defs_resources.build_resources(settings.config_path)["warehouse"]
    assert isinstance(bound, DuckDBResource)
    # Built from loaded settings, DuckDBResource's own `database` field holds the warehouse file.
    resource = Warehouse.for_settings(settings)
    assert resource.database == str(settings.warehouse_path)
    with resource.get_connection() as con:  # no Dagster context needed (the CLI and the desk use it so)
        assert con.execute("SELECT count(*) FROM billing_periods").fetchone() == (0,)


def test_memory_limit_and_threads_apply_to_cli_and_dagster_connections_alike(workdir):
    settings = _limited_settings(workdir)
    expected = _expected_limits()
    assert expected != (None, None)

    with AppContext(settings=settings, actor="tester").connection() as con:
        from_cli = con.execute(LIMITS).fetchone()

    seen = {}

    @dg.asset
    def reads_the_limits(warehouse: defs_resources.Warehouse) -> None:
        with warehouse.get_connection() as con:
            seen["dagster"] = con.execute(LIMITS).fetchone()

    resources = defs_resources.build_resources(settings.config_path)
    (workdir / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(workdir / "dagster_home")) as instance:
        assert dg.materialize([reads_the_limits], resources=resources, instance=instance).success
    assert from_cli == seen["dagster"] == expected


def test_the_defaults_leave_duckdb_its_own_limits(settings):
    """No memory_limit or threads in the configuration: nothing is SET, DuckDB keeps its defaults."""
    with duckdb.connect(":memory:") as con:
        defaults = con.execute(LIMITS).fetchone()
    with AppContext(settings=settings, actor="tester").connection() as con:
        assert con.execute(LIMITS).fetchone() == defaults
