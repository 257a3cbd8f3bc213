"""The registry of review reasons: every reason a charge can wait for a reviewer, in one place.

Each entry gives the reason's code, its label and help text (CLI, sheets, the Dagster catalog, the desk), the
SQL condition that detects it and its level:
  tag       judged on a line's Tags alone (worked out once per distinct Tags text): the columns tags_invalid,
            pi_email, project_id, fund_org, cost_center, account_code, reference_1, reference_2;
  line      judged on the line's own columns (the FOCUS columns, billing_month, expected_period, any_pattern_hit,
            adjusts_month: the closed month an adjustment line corrects);
  decision  not a property of the data but of the review state (a decision made on data that has since changed):
            the review state adds it, validation does not.
The attribution SQL (charges/attribution.py), its prefilter and every label read this registry, so a new reason
is one entry here. Conditions may name settings in braces, filled in by the attribution SQL from the config:
  {currency}          the configured currency code (an SQL literal);
  {fund_org_matches}  the fund_org matches one of review.fund_org_patterns (no patterns: the reason is off);
  {pattern_hit}       an entry with `per_pattern` is one reason per review.flag_patterns entry, code
                      `<code>:<pattern>`; `{pattern_hit}` is that pattern matching the line.
Conditions are SQL (DuckDB; RE2 regexes, linear time); NULL means the reason does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
LEVELS = ("tag", "line", "decision")


def sql_literal(value: str) -> str:
    """A string as an SQL literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class ReviewReason:
    """One reason a charge needs review."""

    code: str
    label: str  # short words, e.g. in a table of the queue by reason (`{pattern}` for a per-pattern reason)
    help: str  # what it means and what a reviewer usually does about it
    level: str  # tag | line | decision
    condition: str | None = None  # SQL that is true when the reason applies (None: level decision)
    per_pattern: bool = False  # one reason per review.flag_patterns entry, code `<code>:<pattern>`
    screen: str | None = None  # a cheap SQL test true for every line the condition could flag (line level)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"review reason {self.code}: level {self.level!r} is not one of {', '.join(LEVELS)}")
        if (self.condition is None) != (self.level == "decision"):
            raise ValueError(f"review reason {self.code}: a tag or line reason needs its SQL condition, "
                             "a decision reason has none")


STALE_DECISION = "stale_decision"
LATE_FOR_CLOSED_MONTH = "late_for_closed_month"

REASONS: tuple[ReviewReason, ...] = (
    ReviewReason(
        "invalid_tags", "Tags are not a JSON object, or repeat a key",
        "The Tags cell is not a JSON object, or names a key twice (which value the owner meant is unclear). "
        "Correct the PI, project and fund, or reject.",
        "tag", "tags_invalid"),
    ReviewReason(
        "missing_pi_email", "no PI (pi_email tag missing)",
        "No PI email in the Tags: the charge reaches no statement. Correct it with the PI, or reject it.",
        "tag", "pi_email IS NULL"),
    ReviewReason(
        "invalid_pi_email", "PI email is malformed",
        "The PI tag is not an email address. Correct it with the PI's address.",
        "tag", f"NOT regexp_full_match(pi_email, {sql_literal(EMAIL_RE)})"),
    ReviewReason(
        "missing_project", "no project tag",
        "No project in the Tags: the charge reaches no statement. Correct it with the project, or reject it.",
        "tag", "project_id IS NULL"),
    ReviewReason(
        "missing_fund_org", "no fund tag",
        "No fund/org in the Tags: it could not be journaled. Correct it with the fund, or reject it.",
        "tag", "fund_org IS NULL"),
    ReviewReason(
        "invalid_fund_org", "fund does not match review.fund_org_patterns",
        "The fund/org is not of a form review.fund_org_patterns accepts. Correct it with a valid fund.",
        "tag", "NOT ({fund_org_matches})"),
    ReviewReason(
        "pattern_match", "matches review pattern {pattern}",
        "The service, resource id or resource name matches a review.flag_patterns entry: look, then approve or "
        "reject.",
        "line", "any_pattern_hit AND ({pattern_hit})", per_pattern=True, screen="any_pattern_hit"),
    ReviewReason(
        "period_mismatch", "billing month is not the one expected for the file",
        "The line's billing month is not the one its file was expected to hold: check the file, then approve or "
        "reject.",
        "line", "expected_period IS NOT NULL AND expected_period <> billing_month"),
    ReviewReason(
        LATE_FOR_CLOSED_MONTH, "adjusts a closed month (late data)",
        "A file for a month already closed or finalized came in late: the difference from what that month billed "
        "is booked here, in the next open month (ingest/late.py). Check it against the origin month, file and row, "
        "then approve it to bill it now, or reject it.",
        "line", "adjusts_month IS NOT NULL"),
    ReviewReason(
        "currency_mismatch", "billed in another currency than configured",
        "The line is billed in another currency than currency.code: it cannot be added to the others as is.",
        "line", 'upper("BillingCurrency") <> {currency}'),
    ReviewReason(
        STALE_DECISION, "a decision was made on data that has since changed",
        "The charge's data changed after it was decided (a re-import): the decision no longer applies; decide "
        "again.",
        "decision"),
)  # fmt: skip


def reasons(level: str | None = None) -> tuple[ReviewReason, ...]:
    """The registry's entries (of one level), in the order a charge's reasons are listed."""
    return tuple(r for r in REASONS if level is None or r.level == level)


def find_reason(code: str) -> ReviewReason | None:
    """The entry of a reason code (`pattern_match:^test-` is the pattern_match entry), None if unknown."""
    base = code.split(":", 1)[0]
    return next((r for r in REASONS if r.code == base and (r.per_pattern or base == code)), None)


def reason_label(code: str) -> str:
    """Human words for a reason code (metadata, CLI, sheets, the desk); an unknown code is shown as is."""
    entry = find_reason(code)
    if entry is None:
        return code
    return entry.label.replace("{pattern}", code.split(":", 1)[1]) if entry.per_pattern else entry.label


def reason_help(code: str) -> str:
    """What a reason means and what a reviewer usually does about it ('' if unknown)."""
    entry = find_reason(code)
    return entry.help if entry else ""
