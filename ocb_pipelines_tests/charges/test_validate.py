"""charges_validated: tag mapping, every review reason, exact money (real DuckDB)."""

import json
from decimal import Decimal

import pytest

from ocb_pipelines.charges.validate import ValidationGateError, build_validated, gate_validated
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file, inspect_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import GOOD_TAGS, focus_row, write_focus


def _validated(tmp_path, settings, rows, expected="2025-01", name="aws_2025-01.csv"):
    path = write_focus(tmp_path / name, rows)
    db = tmp_path / "w.duckdb"
    with wh.connect(db) as con:
        months = inspect_file(path).months
        import_file(con, path, months=months, source="aws", expected_period=expected)
        summaries = {m: build_validated(con, m, rules_from(settings)) for m in months}
        out = con.execute(
            "SELECT file_row_number, pi_email, project_id, fund_org, cost_center, reference_1, review_reasons, "
            "needs_review, billed_cost FROM charges_validated ORDER BY file_row_number").fetchall()
    return out, summaries


def test_tags_mapped_and_clean_row_not_flagged(tmp_path, settings):
    [row], _ = _validated(tmp_path, settings, [focus_row()])
    assert row[1:6] == ("ada.lovelace@example.edu", "astro-survey", "ASTR-100234", "CC-4410", "NSF-2412345")
    assert row[6] == [] and row[7] is False


@pytest.mark.parametrize(
    ("tags", "overrides", "reasons"),
    [
        ({**GOOD_TAGS, "pi_email": None}, {}, ["missing_pi_email"]),
        ({k: v for k, v in GOOD_TAGS.items() if k != "pi_email"}, {}, ["missing_pi_email"]),
        ({**GOOD_TAGS, "pi_email": "not-an-email"}, {}, ["invalid_pi_email"]),
        ({k: v for k, v in GOOD_TAGS.items() if k != "project_id"}, {}, ["missing_project"]),
        ({**GOOD_TAGS, "project_id": "  "}, {}, ["missing_project"]),
        ({k: v for k, v in GOOD_TAGS.items() if k != "fund_org"}, {}, ["missing_fund_org"]),
        ({**GOOD_TAGS, "fund_org": "astr_100234"}, {}, ["invalid_fund_org"]),
        ({**GOOD_TAGS, "fund_org": "ASTR-100234x"}, {}, ["invalid_fund_org"]),  # full match, not prefix
        (GOOD_TAGS, {"ResourceName": "test-node-1"}, ["pattern_match:^test-"]),
        (GOOD_TAGS, {"ResourceId": "arn:PROD-db"}, ["pattern_match:PROD-"]),
        (GOOD_TAGS, {"ServiceName": "AWS Marketplace"}, ["pattern_match:Marketplace"]),
        (GOOD_TAGS, {"ResourceName": "test-node", "ServiceName": "AWS Marketplace"},
         ["pattern_match:^test-", "pattern_match:Marketplace"]),
        # each pattern keeps its own anchor (my-test-node is not ^test-), matching ignores case
        (GOOD_TAGS, {"ResourceName": "my-test-node", "ResourceId": "arn:prod-db"}, ["pattern_match:PROD-"]),
        (" \n\t" + json.dumps(GOOD_TAGS), {"ResourceName": "test-1"}, ["pattern_match:^test-"]),  # still an object
        (" \n[1, 2]", {}, ["invalid_tags", "missing_pi_email", "missing_project", "missing_fund_org"]),
        (GOOD_TAGS, {"BillingCurrency": "EUR"}, ["currency_mismatch"]),
        ("[1, 2]", {}, ["invalid_tags", "missing_pi_email", "missing_project", "missing_fund_org"]),
        ("{not json", {}, ["invalid_tags", "missing_pi_email", "missing_project", "missing_fund_org"]),
        ({}, {}, ["missing_pi_email", "missing_project", "missing_fund_org"]),
        ({"pi_email": "x@example.edu"}, {"ResourceName": "test-1"},
         ["missing_project", "missing_fund_org", "pattern_match:^test-"]),
    ],
)
def test_every_review_reason_is_kept(tmp_path, settings, tags, overrides, reasons):
    tag_text = tags if isinstance(tags, str) else json.dumps(tags)
    [row], _ = _validated(tmp_path, settings, [focus_row(tags=tag_text, **overrides)])
    assert row[6] == reasons and row[7] is True


def test_row_without_pi_is_flagged_never_dropped(tmp_path, settings):
    rows, summaries = _validated(tmp_path, settings, [focus_row(tags="{}", billed="5"), focus_row(billed="7")])
    assert len(rows) == 2
    s = summaries["2025-01"]
    assert (s.rows, s.flagged_rows, s.flagged_billed, s.billed_total) == (2, 1, Decimal(5), Decimal(12))


def test_period_mismatch_when_month_is_not_the_expected_one(tmp_path, settings):
    rows, _ = _validated(tmp_path, settings, [focus_row("2025-01"), focus_row("2025-02")], expected="2025-01")
    assert [r[6] for r in rows] == [[], ["period_mismatch"]]


def test_tag_keys_matched_ignoring_case_and_blanks(tmp_path, settings):
    tags = {" PI_Email ": "Ada.Lovelace@Example.edu ", "Project_ID": "astro", "fund_org": "ASTR-100234"}
    [row], _ = _validated(tmp_path, settings, [focus_row(tags=tags)])
    assert row[1:4] == ("ada.lovelace@example.edu", "astro", "ASTR-100234") and row[6] == []


def test_tag_keys_matched_through_json_escapes(tmp_path, settings):
    # "\u0050I_Email" is PI_Email spelled with an escape: the key's text never appears as written.
    tags = '{"\\u0050I_Email": "ada@example.edu", "project_id": "astro", " Fund_\\u004frg": "ASTR-100234"}'
    [row], _ = _validated(tmp_path, settings, [focus_row(tags=tags)])
    assert row[1:4] == ("ada@example.edu", "astro", "ASTR-100234") and row[6] == []


def test_money_is_exact_decimal(tmp_path, settings):
    amounts = ["0.1", "0.2", "0.3000000001", "-0.6000000001", "35.2E-7", "1234567890123.123456789012"]
    rows, summaries = _validated(tmp_path, settings, [focus_row(billed=a) for a in amounts])
    assert all(isinstance(r[8], Decimal) for r in rows)
    assert summaries["2025-01"].billed_total == Decimal("1234567890123.1234603090120")
    assert sum(Decimal(a) for a in amounts) == Decimal("1234567890123.1234603090120")


def test_offsets_move_instants_and_months_in_utc(tmp_path, settings):
    """A short offset (`+01`, 19 characters like a zone-less time) is applied, not dropped: the row lands in
    January, and its timestamps are read in UTC; `Z` and zone-less values read as written."""
    row = focus_row("2025-02", BillingPeriodStart="2025-02-01T00:00+01", BillingPeriodEnd="2025-03-01T00:00:00+01:00",
                    ChargePeriodStart="2025-02-03 00:00:00", ChargePeriodEnd="2025-02-03T01:00-0130")
    path = write_focus(tmp_path / "aws_2025-02.csv", [row])
    with wh.connect(tmp_path / "w.duckdb") as con:
        assert inspect_file(path).months == ("2025-01",)
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        got = con.execute("SELECT billing_period_start, billing_period_end, charge_period_start, charge_period_end "
                          "FROM charges_validated").fetchall()
    assert [str(v) for v in got[0]] == [
        "2025-01-31 23:00:00", "2025-02-28 23:00:00", "2025-02-03 00:00:00", "2025-02-03 02:30:00"]


def test_charge_ids_stable_across_reimport_and_unique(tmp_path, settings):
    rows = [focus_row(), focus_row(), focus_row(ResourceId="i-2")]  # two identical lines stay two charges
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    ids = []
    for n in range(2):
        db = tmp_path / f"w{n}.duckdb"
        with wh.connect(db) as con:
            import_file(con, path, months=["2025-01"], source="aws")
            build_validated(con, "2025-01", rules_from(settings))
            ids.append(con.execute("SELECT charge_id FROM charges_validated ORDER BY charge_id").fetchall())
    assert ids[0] == ids[1] and len(set(ids[0])) == 3


def test_validated_gate_failure_rolls_back(tmp_path, settings):
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row()])
    db = tmp_path / "w.duckdb"
    with wh.connect(db) as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        before = con.execute("SELECT * FROM validated_lines").fetchall()  # what validation stored
        con.execute("INSERT INTO focus_rows SELECT * FROM focus_rows")  # duplicate rows: same ids would clash
        con.execute("UPDATE focus_rows SET file_row_number = 1")
        assert gate_validated(con, "2025-01") == []
        import ocb_pipelines.charges.validate as validate

        original = validate.validated_select_sql
        validate.validated_select_sql = lambda rules: original(rules).replace(
            "substr(md5(identity_hash || chr(31) || CAST(occurrence AS VARCHAR)), 1, 20)", "'same-id-for-all-rows'")
        try:
            with pytest.raises(ValidationGateError, match="charge_id"):
                build_validated(con, "2025-01", rules_from(settings))
        finally:
            validate.validated_select_sql = original
        assert con.execute("SELECT * FROM validated_lines").fetchall() == before


def test_unchanged_reimport_into_a_closed_month_is_a_no_op(tmp_path, settings):
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row()])
    db = tmp_path / "w.duckdb"
    with wh.connect(db) as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules_from(settings))
        before = con.execute("SELECT * FROM charges_validated").fetchall()
        con.execute("UPDATE billing_periods SET status = 'closed'")
        assert import_file(con, path, months=["2025-01"], source="aws")[0].status == "unchanged"
        assert build_validated(con, "2025-01", rules_from(settings)).rows == 1  # no refusal, no write
        assert con.execute("SELECT * FROM charges_validated").fetchall() == before
        con.execute("DELETE FROM validated_lines")  # validation out of date: a closed month refuses the rebuild
        with pytest.raises(wh.PeriodLockedError, match="closed"):
            build_validated(con, "2025-01", rules_from(settings))


def test_charge_id_and_row_hash_are_pinned(tmp_path, settings):
    """Decisions in existing warehouses refer to these values: the formulas must never change (row_hash is now
    worked out from the raw row when read, and must equal what validation stored before)."""
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(), focus_row(ResourceName="test-x")])
    rules = rules_from(settings)
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=["2025-01"], source="aws")
        build_validated(con, "2025-01", rules)
        ids = con.execute(
            "SELECT file_row_number, charge_id, row_hash FROM charges_validated ORDER BY 1").fetchall()
    assert ids == [
        (1, "2d6e98bb30e2ae626a40", "393bd49054014606624aee8a1390d91a"),
        (2, "baab206bad902ae651a6", "393bd49054014606624aee8a1390d91a"),  # an identical line: its own id
        (3, "e5bafeeff222f4778810", "92ed3b54e28ad4712aa551edf4c49c19"),
    ]


def test_lines_sharing_tags_keep_their_own_reasons(tmp_path, settings):
    """Attribution is worked out once per distinct Tags text: each line still gets the Tags' reasons followed by
    its own, and lines without Tags are judged too."""
    no_fund = {k: v for k, v in GOOD_TAGS.items() if k != "fund_org"}
    rows = [
        focus_row(Tags=json.dumps(no_fund)),
        focus_row(Tags=json.dumps(no_fund), ResourceName="test-1"),
        focus_row(Tags=json.dumps(no_fund), BillingCurrency="EUR"),
        focus_row(Tags=None, ServiceName="AWS Marketplace"),
        focus_row(Tags=None),
        focus_row(),
    ]
    out, _ = _validated(tmp_path, settings, rows)
    missing_all = ["missing_pi_email", "missing_project", "missing_fund_org"]
    assert [r[6] for r in out] == [
        ["missing_fund_org"],
        ["missing_fund_org", "pattern_match:^test-"],
        ["missing_fund_org", "currency_mismatch"],
        [*missing_all, "pattern_match:Marketplace"],
        missing_all,
        [],
    ]
    assert [r[1] for r in out][:3] == ["ada.lovelace@example.edu"] * 3 and out[3][1] is None
