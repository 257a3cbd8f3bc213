"""Each bad input gets a clear error naming the file, and the warehouse stays as it was."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocb_pipelines.charges.assets import rules_from
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core import warehouse as wh
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
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


CELL = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    overrides=st.dictionaries(
        st.sampled_from(["BilledCost", "ListCost", "BillingPeriodStart", "ChargePeriodEnd", "ChargeCategory",
                         "BillingCurrency", "Tags", "ResourceName", "ServiceName"]),
        CELL, max_size=4),
    raw_bytes=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_reader_fuzz_never_raises_unhandled(tmp_path, overrides, raw_bytes):
    """Whatever the file holds, the reader imports it or refuses it with ImportRefused: nothing else."""
    path = tmp_path / "aws_2025-01.csv"
    write_focus(path, [focus_row(), focus_row(**overrides)])
    if raw_bytes is not None:
        path.write_bytes(path.read_bytes() + raw_bytes)
    db = tmp_path / "fuzz.duckdb"
    db.unlink(missing_ok=True)
    try:
        with wh.connect(db) as con:
            months = list(inspect_file(path).months) or ["2025-01"]
            months = [m for m in months if m[:2] == "20" and len(m) == 7] or ["2025-01"]
            results = import_file(con, path, months=months, source="aws")
            for r in results:
                assert r.status in {"imported", "removed", "unchanged", "duplicate"}
    except ImportRefused as exc:
        assert str(exc).startswith(path.name)
    except ValueError as exc:  # month_key on a month the content made up
        assert "billing month" in str(exc)
