"""Asset checks, through a real Dagster instance and real DuckDB files: every check is evaluated per billing month
and its result carries the month; each check passes on a good month and fails on a deliberately broken copy of
the warehouse; a closed or finalized month refuses to be validated again, with the way forward."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.services.dagster_runs import DAGSTER_YAML, failure_reason
from ocb_pipelines.services.imports import import_files, plan_import
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.statements.conftest import month_rows

REPO = Path(__file__).resolve().parents[2]
JAN, FEB = "2025-01", "2025-02"
CHECKS = {  # asset -> its checks, and whether each is blocking
    "focus_raw": {"focus_files_pass_gate": False},
    "charges_validated": {"charges_validated_complete": True},
    "review_decisions": {"decisions_name_known_charges": False},
    "charges_approved": {"charges_approved_gate": True, "charges_reconciled": True},
    "pi_history": {"pi_history_gate": True},
    "statements": {"statements_gate": True},
    "gl_journal": {"gl_journal_balanced": False},
    "statement_deliveries": {"statement_deliveries_sent_once": False},
}


def _key(asset: str, name: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(asset), name)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[OcbSettings]:
    """January and February imported through Dagster; January's flagged charge corrected, the month closed, its
    statements rendered and emailed (outbox) and its GL journal exported, all as Dagster runs."""
    root = tmp_path_factory.mktemp("checks")
    shutil.copy(REPO / "config.example.yaml", root / "config.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        env.setenv("OCB_ACTOR", "check.tester")
        env.delenv("OCB_CONFIG", raising=False)
        (root / "dagster_home").mkdir()
        (root / "dagster_home" / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
        settings = load_config(root / "config.yaml")
        write_focus_csv(settings.inbox_dir / f"aws_{JAN}.csv",
                        [*month_rows(JAN), charge_row(JAN, resource="mystery", billed="7.25", project_id=None)])
        write_focus_csv(settings.inbox_dir / f"aws_{FEB}.csv",
                        [*month_rows(FEB), charge_row(FEB, resource="extra", billed="1.00")])
        defs = build_definitions(settings.config_path)
        with dg.DagsterInstance.get() as instance:

            def run(job: str, month: str) -> None:
                result = defs.resolve_job_def(job).execute_in_process(
                    partition_key=month, instance=instance, tags=WAREHOUSE_RUN_TAGS, raise_on_error=False)
                assert result.success, (job, month)

            run("month_end_import_job", JAN)
            run("month_end_import_job", FEB)
            with wh.connect(settings.warehouse_path) as con:
                [flagged] = rd.charge_states(con, JAN)
                rd.record_decisions(con, JAN, [rd.Decision(flagged["charge_id"], "correct", "the PI's project",
                                                           project_id="proj-a")], actor="check.tester", via="cli")
            run("review_job", JAN)
            with wh.connect(settings.warehouse_path) as con:
                lc.close_period(con, JAN, "check.tester", currency_symbol=settings.currency.symbol)
            run("month_end_outputs_and_send_job", JAN)
        yield settings


def _copy(world: OcbSettings, tmp_path: Path) -> OcbSettings:
    """The world's configuration and warehouse in a folder of the test's own, to break without harm."""
    shutil.copy(world.config_path, tmp_path / "config.yaml")
    settings = load_config(tmp_path / "config.yaml")
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(world.warehouse_path, settings.warehouse_path)
    return settings


def _run_check(settings: OcbSettings, key: dg.AssetCheckKey, month: str) -> dg.AssetCheckEvaluation:
    """Execute one check alone for one month (as the UI's "Execute" on the check does) in a fresh instance."""
    job = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(key))
    defs = dg.Definitions.merge(build_definitions(settings.config_path), dg.Definitions(jobs=[job]))
    with dg.instance_for_test() as instance:
        # The month as the run's partition tag, as a launched run carries it (execute_in_process's partition_key
        # asks for an asset in the selection to take the partitions from).
        result = defs.resolve_job_def("one_check").execute_in_process(
            instance=instance, tags={**WAREHOUSE_RUN_TAGS, "dagster/partition": month}, raise_on_error=False)
        [evaluation] = result.get_asset_check_evaluations()
        [record] = instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
    assert record.partition == month == evaluation.partition  # stored with its month, as the UI reads it
    return evaluation


def test_every_check_is_evaluated_per_month(tmp_path):
    """Every check has the month partitions of its asset (also after build_definitions moves the assets to the
    warehouse's calendar): a check without them records no month and leaves its planned row unfilled. Moving
    them prints no Dagster preview or beta warning."""
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    text = (tmp_path / "config.yaml").read_text(encoding="utf-8").replace('# first_month: "2024-07"',
                                                                             'first_month: "2025-01"')
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:  # what `dg dev` would print at every load
        warnings.simplefilter("always")
        defs = build_definitions(tmp_path / "config.yaml")
        defs.get_repository_def()
    assert [str(w.message) for w in caught if issubclass(w.category, (dg.PreviewWarning, dg.BetaWarning))] == []
    graph = defs.resolve_asset_graph()
    found = {}
    for key in graph.asset_check_keys:
        check, asset = graph.get(key), graph.get(key.asset_key)
        assert check.partitions_def is not None and check.partitions_def == asset.partitions_def, key
        assert check.partitions_def.get_first_partition_key() == "2025-01", key
        found.setdefault(key.asset_key.to_user_string(), {})[key.name] = check.blocking
    assert found == CHECKS


def test_check_results_carry_their_month_and_leave_no_skipped_rows(world):
    with dg.DagsterInstance.get() as instance:
        latest_gate: dict[str, dg.AssetCheckEvaluation] = {}
        for asset, names in CHECKS.items():
            for name in names:
                records = instance.event_log_storage.get_asset_check_execution_history(_key(asset, name), limit=50)
                assert records, (asset, name)
                for record in records:  # newest first
                    run = instance.get_run_by_id(record.run_id)
                    assert record.partition == run.tags["dagster/partition"], (asset, name)
                    # A planned row no result filled is what the UI shows as "Skipped" once the run succeeded.
                    assert record.status.value == "SUCCEEDED", (asset, name, record.status)
                    assert record.evaluation.passed and record.evaluation.partition == record.partition
                    if name == "charges_approved_gate":
                        latest_gate.setdefault(record.partition, record.evaluation)
    # Each month's page shows its own figures (February's used to show on January's).
    jan = sum(Decimal(r["BilledCost"]) for r in month_rows(JAN)) + Decimal("7.25")
    feb = sum(Decimal(r["BilledCost"]) for r in month_rows(FEB)) + Decimal("1.00")
    assert latest_gate[JAN].metadata["validated_billed_cents"].value == int(jan * 100)
    assert latest_gate[FEB].metadata["validated_billed_cents"].value == int(feb * 100)


def _unvalidated_row(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM validated_lines WHERE charge_id = (SELECT min(charge_id) FROM validated_lines "
                "WHERE billing_month = ?)", [JAN])


def _decision_on_unknown_charge(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO review_decisions (billing_month, charge_id, row_hash, decision, note, actor, decided_at, "
                "via) VALUES (?, 'no-such-charge-0001', 'x', 'approve', 'typed by hand', 'someone', now(), 'sql')",
                [JAN])


def _cent_off(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE validated_lines SET billed_cost = billed_cost + 0.01 WHERE charge_id = (SELECT min(charge_id) "
                "FROM validated_lines WHERE billing_month = ?)", [JAN])


def _unbalanced_journal(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE journal_exports SET debit_total = debit_total + 0.01 WHERE export_id = (SELECT max(export_id) "
                "FROM journal_exports WHERE billing_month = ?)", [JAN])


def _sent_twice(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""INSERT INTO delivery_log BY NAME
                   SELECT * EXCLUDE (delivery_id, attempt, message_id) REPLACE (now() AS started_at),
                          attempt + 1 AS attempt, message_id || '.again' AS message_id
                   FROM delivery_log WHERE billing_month = ? AND status = 'written'
                   ORDER BY delivery_id LIMIT 1""", [JAN])


@pytest.mark.parametrize(("asset", "name", "breaks", "says", "severity"), [
    ("charges_validated", "charges_validated_complete", _unvalidated_row, "not validated", "ERROR"),
    ("review_decisions", "decisions_name_known_charges", _decision_on_unknown_charge, "apply to nothing", "WARN"),
    ("charges_approved", "charges_reconciled", _cent_off, "!= approved + pending + rejected", "ERROR"),
    ("gl_journal", "gl_journal_balanced", _unbalanced_journal, "!= credits", "ERROR"),
    ("statement_deliveries", "statement_deliveries_sent_once", _sent_twice, "without a resend", "ERROR"),
])
def test_each_check_passes_on_the_month_and_fails_on_a_broken_warehouse(
        world, tmp_path, asset: str, name: str, breaks: Callable[[duckdb.DuckDBPyConnection], None], says: str,
        severity: str):
    settings = _copy(world, tmp_path)
    good = _run_check(settings, _key(asset, name), JAN)
    assert good.passed, good.description
    with wh.connect(settings.warehouse_path) as con:
        breaks(con)
    bad = _run_check(settings, _key(asset, name), JAN)
    assert not bad.passed and says in bad.description, bad.description
    assert bad.severity.value == severity
    assert bad.metadata["summary"].value == bad.description


def test_a_blocking_check_failing_stops_the_next_step(world, tmp_path):
    """charges_reconciled fails (a validated charge one cent off): statements are not rendered in that run, and
    the run's failure reason is the check's description."""
    settings = _copy(world, tmp_path)
    with wh.connect(settings.warehouse_path) as con:
        _cent_off(con)
    defs = build_definitions(settings.config_path)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("month_end_outputs_job").execute_in_process(
            partition_key=JAN, instance=instance, tags=WAREHOUSE_RUN_TAGS, raise_on_error=False)
    assert not result.success
    failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
    assert "charges_reconciled" in failed
    assert "statements" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    # What a command reports (ocb periods close, ocb generate): the check's own words, not only its name.
    assert failure_reason(result).startswith(f"billing month {JAN} does not reconcile: imported $")


def _validate(settings: OcbSettings, month: str) -> dg.ExecuteInProcessResult:
    """Materialise charges_validated alone for the month, as the UI's Materialize on its page does."""
    job = dg.define_asset_job("validate_only", selection=dg.AssetSelection.assets("charges_validated"))
    defs = dg.Definitions.merge(build_definitions(settings.config_path), dg.Definitions(jobs=[job]))
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def("validate_only").execute_in_process(
            partition_key=month, instance=instance, tags=WAREHOUSE_RUN_TAGS, raise_on_error=False)


@pytest.mark.parametrize(("status", "way_forward"), [
    ("closed", f'ocb periods reopen {JAN} --reason "..."'),
    ("finalized", "Book late data and corrections in the next open month"),
])
def test_a_closed_or_finalized_month_refuses_revalidation(world, tmp_path, status: str, way_forward: str):
    settings = _copy(world, tmp_path)
    with wh.connect(settings.warehouse_path) as con:
        if status == "finalized":
            lc.finalize_period(con, JAN, "check.tester")
        before = con.execute("SELECT * FROM validated_lines ORDER BY charge_id").fetchall()
    result = _validate(settings, JAN)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    said = failure.step_failure_data.user_failure_data.description  # an intentional dg.Failure, in our words
    assert f"billing month {JAN} is {status}" in said and way_forward in said, said
    error = failure.step_failure_data.error  # no exception of ours under it: no chained cause, no domain frames
    assert error.cause is None
    assert [line for line in error.stack if "ocb_pipelines" in line and "defs/charges/assets.py" not in line] == []
    assert not result.get_asset_materialization_events()
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT * FROM validated_lines ORDER BY charge_id").fetchall() == before
    assert _validate(settings, FEB).success  # an open month is validated again as before


def test_an_unchanged_reimport_into_a_closed_month_starts_no_run(world, tmp_path, monkeypatch):
    """`ocb ingest` (or `ocb demo` again) of the closed month's own file: nothing to import, nothing validated,
    reported unchanged, and no run that the refusal above would fail."""
    settings = _copy(world, tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    ctx = app_context(settings, actor="check.tester")
    summary = import_files(ctx, plan_import(ctx, [world.inbox_dir / f"aws_{JAN}.csv"]))
    assert summary["ok"], summary
    assert [f["status"] for f in summary["files"]] == [["unchanged"]] and summary["runs"] == []
