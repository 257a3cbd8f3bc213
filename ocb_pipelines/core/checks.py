"""A data check's verdict in plain values, so each domain states its own rule without Dagster.

The rule of a check (its SQL and what it means) lives with the data it is about (charges, review, periods,
ledger, delivery); the Dagster asset check in `defs/<stage>/checks.py` only runs it for one billing month and
shows the verdict in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CULPRITS_SHOWN = 20  # the first culprits are listed; the count says how many there are


@dataclass(frozen=True)
class CheckOutcome:
    """passed; one line saying what was found (and, when it failed, what to do); figures (Decimal amounts stay
    exact, ints are counts, text is shown as is); the first culprits as rows; `warn_only` when a failure is a
    warning (nothing billed is wrong) rather than an error."""

    passed: bool
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    culprits: list[dict[str, Any]] = field(default_factory=list)
    culprit_count: int = 0
    warn_only: bool = False
