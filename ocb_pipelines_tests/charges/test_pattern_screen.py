"""The flag-pattern screen finds exactly the lines RE2's case-insensitive search finds, in any text."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from ocb_pipelines.charges.pattern_screen import Literal, literal_of, pattern_screen

PATTERNS = [
    "^test-", "PROD-", "Marketplace", "gpu$", "^exact$", r"a\.b", r"\(beta\)", "kilo", "ſ", "^Vm[0-9]+",
    "x|y", r"\d{3}", "Straße",
]  # fmt: skip
VALUES = [
    None, "", "test-vm", "TEST-vm", "my-test-vm", "prod-db", "xPROD-1", "AWS Marketplace", "marketplacE",
    "a100 GPU", "gpu-node", "EXACT", "exact ", "a.b", "aXb", "(BETA) api", "beta", "KILO", "\u212ailo",
    "ſ", "s", "S", "teſt-vm", "PROD\u017f", "vm12", "VM", "x", "123", "STRASSE", "straße", "test-\u00e9",
    "\u00c9t\u00e9 prod-",
]  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("Marketplace", Literal("marketplace", False, False)),
        ("^test-", Literal("test-", True, False)),
        ("gpu$", Literal("gpu", False, True)),
        ("^exact$", Literal("exact", True, True)),
        (r"a\.b\$", Literal("a.b$", False, False)),
        ("^Vm[0-9]+", None),
        (r"\d{3}", None),
        ("x|y", None),
        ("(?i)x", None),
        ("Straße", None),  # not ASCII: RE2's case folding, not lower()
        ("a\\", None),
        ("^", None),
    ],
)
def test_literal_of_takes_only_plain_ascii_text(pattern: str, expected: Literal | None) -> None:
    assert literal_of(pattern) == expected


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_screen_finds_exactly_what_re2_finds(count: int) -> None:
    """Every combination of patterns, over values in three columns: ASCII and not, case-folded letters (the
    Kelvin sign and the long s match k and s in RE2) and NULLs."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR, b VARCHAR, c VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                    [(value, None, "plain") for value in VALUES] + [(None, "plain", value) for value in VALUES])
    columns = ("a", "b", "c")
    for patterns in itertools.combinations(PATTERNS, count):
        screen = pattern_screen(patterns, columns)
        extra = f", {screen.projection}" if screen.projection else ""
        found = con.execute(f"SELECT a, b, c, {screen.test} FROM (SELECT *{extra} FROM t) ORDER BY ALL").fetchall()
        regex = "|".join(f"(?:{p})" for p in patterns)
        expected = con.execute(
            "SELECT a, b, c, " + " OR ".join(
                f"coalesce(regexp_matches({c}, ?, 'i'), false)" for c in columns) + " FROM t ORDER BY ALL",
            [regex] * len(columns)).fetchall()
        assert found == expected, patterns


def test_no_patterns_flag_nothing() -> None:
    assert pattern_screen((), ("a",)).test == "false"
