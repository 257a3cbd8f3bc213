"""Regular expressions from the configuration, run by RE2 (linear time) wherever they meet a value.

Python's `re` backtracks: a pattern such as `(a+)+$` against `aaaa...a!` runs for minutes, and a review
correction or a journal export would hold the warehouse's write lock all that time. RE2 (the `google-re2`
package, the same engine as DuckDB's regexp functions that judge imports) matches in time linear in the
value, and refuses what it cannot do that way (backreferences, lookaround), so the configuration is
checked with it too: a pattern that loads is one that every stage can run. Named groups `(?P<name>...)`
work as in Python.
"""

from __future__ import annotations

from functools import lru_cache

import re2


class PatternError(ValueError):
    """A configured pattern RE2 cannot compile; the message names the pattern and why."""


@lru_cache(maxsize=256)
def compiled(pattern: str, ignore_case: bool = False) -> re2._Regexp:
    """The pattern compiled by RE2 (cached: the same few config patterns meet many values)."""
    options = re2.Options()
    options.log_errors = False  # the error reaches the user through PatternError, not as a C++ log line
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(f"invalid regular expression {pattern!r}: {reason} (patterns run in RE2: "
                           f"no backreferences or lookaround)") from None


def check(pattern: str) -> str:
    """The pattern, when RE2 compiles it; PatternError otherwise (config validation)."""
    compiled(pattern)
    return pattern


def full_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether the pattern matches the whole value."""
    return compiled(pattern, ignore_case).fullmatch(value) is not None


def groups(pattern: str, value: str) -> dict[str, str] | None:
    """The named groups of a whole-value match (an unmatched optional group is ''); None when no match."""
    match = compiled(pattern).fullmatch(value)
    if match is None:
        return None
    return {name: text or "" for name, text in match.groupdict().items()}


def group_names(pattern: str) -> tuple[str, ...]:
    """The pattern's named groups, in the order they open."""
    index = compiled(pattern).groupindex
    return tuple(sorted(index, key=index.__getitem__))
