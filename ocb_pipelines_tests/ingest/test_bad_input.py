"""Each bad input gets a clear error naming the file, and the warehouse stays as it was."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus
from ocb_pipelines_tests.ingest import bad_inputs


def _snapshot(db):
    with wh.connect(db) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("focus_raw", "import_files", "charges_validated")}


@pytest.fixture
def seeded(tmp_path):
    """A warehouse that already holds a good import (which must survive every bad one)."""
    db = tmp_path / "w.duckdb"
    good = write_focus(tmp_path / "azure_2025-01.csv", [focus_row(billed="7")])
    with wh.connect(db) as con:
        import_file(con, good, months=["2025-01"], source="azure")
    return db


@pytest.mark.parametrize(("make", "expected"), bad_inputs.REFUSED, ids=[m.__name__ for m, _ in bad_inputs.REFUSED])
def test_bad_input_refused_clearly_and_nothing_lost(tmp_path, seeded, make, expected):
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path = make(bad_dir)
    before = _snapshot(seeded)
    months = ["2025-01"]
    with contextlib.suppress(ImportRefused):
        months = list(inspect_file(path).months) or months
    with pytest.raises(ImportRefused) as err, wh.connect(seeded) as con:
        import_file(con, path, months=months, source="aws")
    message = str(err.value)
    assert message.startswith(path.name) and expected in message
    assert len(message) < 5_000  # a clear error, not a dump of the file
    assert _snapshot(seeded) == before


@pytest.mark.parametrize("kind", sorted(bad_inputs.REVIEWED_TAGS))
def test_bad_tags_route_to_review(tmp_path, settings, kind):
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(tags=bad_inputs.REVIEWED_TAGS[kind])])
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        [(reasons,)] = con.execute("SELECT review_reasons FROM charges_validated").fetchall()
    assert reasons and ("invalid_tags" in reasons or "invalid_pi_email" in reasons)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**bad_inputs.FUZZ_STRATEGIES)
def test_reader_fuzz_never_raises_unhandled(tmp_path, overrides, raw_bytes):
    """Whatever the file holds, the reader imports it or refuses it with ImportRefused: nothing else."""
    assert bad_inputs.read_or_refuse(tmp_path, overrides, raw_bytes) in {"imported", "refused"}
