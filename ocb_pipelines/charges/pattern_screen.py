"""A cheap first test of review.flag_patterns on every line, before the exact RE2 test names each pattern.

A configured pattern is a regex, searched case-insensitively. Most are plain words (`Marketplace`, `^test-`,
`PROD-`): for them the regex engine scans every byte of every ResourceId (0.4 CPU s a million lines) where a
lower-cased substring test does the same job in less than half the time. The screen must never miss a line the
regex would match (it only decides which lines get the exact test), so the literal test is used only where it
is exactly the regex's answer: an ASCII literal in ASCII text. Text with other characters (`ſ` and the Kelvin
sign match `s` and `k` under RE2's case folding, which lower-casing does not do) and patterns that are not
plain text go through RE2 as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ocb_pipelines.core.review_reasons import sql_literal

_SPECIAL = set(".^$*+?()[]{}|\\")


@dataclass(frozen=True)
class Literal:
    """A pattern that is plain text: found anywhere, at the start (`^`), at the end (`$`), or the whole value."""

    text: str  # lower-cased
    at_start: bool
    at_end: bool

    def test_sql(self, lowered: str) -> str:
        text = sql_literal(self.text)
        if self.at_start and self.at_end:
            return f"{lowered} = {text}"
        if self.at_start:
            return f"starts_with({lowered}, {text})"
        if self.at_end:
            return f"ends_with({lowered}, {text})"
        return f"contains({lowered}, {text})"


def literal_of(pattern: str) -> Literal | None:
    """The pattern as plain ASCII text with its anchors, or None when it is more than that (classes, repeats,
    groups, alternatives, escapes such as \\d) or not ASCII."""
    at_start = pattern.startswith("^")
    body = pattern[1:] if at_start else pattern
    text: list[str] = []
    at_end = False
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1] if index + 1 < len(body) else ""
            if not escaped or not escaped.isascii() or escaped.isalnum():
                return None  # \d, \b, \Q..., a trailing backslash: a regex, not plain text
            text.append(body[index + 1])
            index += 2
            continue
        if char == "$" and index == len(body) - 1:
            at_end = True
        elif char in _SPECIAL:
            return None
        else:
            text.append(char)
        index += 1
    literal = "".join(text)
    if not literal or not literal.isascii():
        return None
    return Literal(literal.lower(), at_start, at_end)


@dataclass(frozen=True)
class Screen:
    """The screen's SQL: `projection`, columns each line computes once (lower-cased text, whether it is ASCII),
    for a query over the raw rows to add to its select list (empty when there are none); `test`, the test on
    them."""

    projection: str
    test: str


def pattern_screen(patterns: Sequence[str], columns: Sequence[str]) -> Screen:
    """SQL true for every line where one of `patterns` is found (RE2, ignoring case) in one of `columns`, and for
    no other: plain patterns as substring tests on ASCII text, the rest (and non-ASCII text) in RE2."""
    if not patterns:
        return Screen("", "false")
    literals = [literal_of(p) for p in patterns]
    plain = [lit for lit in literals if lit is not None]
    regexes = [p for p, lit in zip(patterns, literals, strict=True) if lit is None]
    every = _alternation(patterns)
    if not plain:
        return Screen("", "(" + " OR ".join(
            f"coalesce(regexp_matches({c}, {every}, 'i'), false)" for c in columns) + ")")
    projection, tests = [], []
    for index, column in enumerate(columns):
        lowered, ascii_text = f"_screen_lower_{index}", f"_screen_ascii_{index}"
        # Computed once per line in the projection (the same lower() in each test was evaluated for each).
        # strlen counts bytes, length characters: equal only for ASCII text.
        projection += [f"lower({column}) AS {lowered}", f"strlen({column}) = length({column}) AS {ascii_text}"]
        found = " OR ".join(lit.test_sql(lowered) for lit in plain)
        if regexes:
            found += f" OR regexp_matches({column}, {_alternation(regexes)}, 'i')"
        tests.append(f"coalesce(CASE WHEN {ascii_text} THEN {found} ELSE regexp_matches({column}, {every}, 'i') END, "
                     "false)")
    return Screen(", ".join(projection), "(" + " OR ".join(tests) + ")")


def _alternation(patterns: Sequence[str]) -> str:
    """All patterns as one RE2 regex, each in its own group (so its anchors and flags stay its own)."""
    if len(patterns) == 1:
        return sql_literal(patterns[0])
    return sql_literal("|".join(f"(?:{p})" for p in patterns))
