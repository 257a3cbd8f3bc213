"""Tag mapping and review rules, compiled to DuckDB SQL (no Dagster).

Every reason a charge needs review is kept, not only the first. The reasons, their SQL and their labels are the
registry in core/review_reasons.py: this module only assembles the registry's conditions (tag-level ones once per
distinct Tags text, line-level ones per line behind a cheap prefilter) with the config's settings.
Regexes run in DuckDB's RE2 engine (linear time, so a pattern cannot hang an import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ocb_pipelines.charges.identity import charge_id_sql, identity_hash_sql, identity_values_sql
from ocb_pipelines.charges.pattern_screen import pattern_screen
from ocb_pipelines.core import review_reasons
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.review_reasons import EMAIL_RE, reason_label, sql_literal
from ocb_pipelines.ingest.focus import utc_timestamp_sql
from ocb_pipelines.ingest.legacy_layout import period_end_sql
from ocb_pipelines.warehouse.database import money_from_text

__all__ = ["EMAIL_RE", "AttributionRules", "reason_label", "sql_literal", "validated_select_sql"]
CANONICAL_CATEGORY = {
    "usage": "Usage", "purchase": "Purchase", "tax": "Tax", "credit": "Credit", "adjustment": "Adjustment",
}  # fmt: skip


@dataclass(frozen=True)
class AttributionRules:
    """The part of the configuration that decides attribution and review."""

    tag_keys: dict[str, str]  # our field -> tag key in the file (pi_email, project_id, fund_org, ...)
    flag_patterns: Sequence[str] = ()
    fund_org_patterns: Sequence[str] = ()
    currency_code: str = "USD"


def rules_from(settings: OcbSettings) -> AttributionRules:
    """The rules of a configuration: the validation asset and a dry-run import validate with the same ones."""
    return AttributionRules(
        tag_keys=settings.tag_mapping.model_dump(),
        flag_patterns=tuple(settings.review.flag_patterns),
        fund_org_patterns=tuple(settings.review.fund_org_patterns),
        currency_code=settings.currency.code,
    )


FLAGGED_COLUMNS = ('"ServiceName"', '"ResourceId"', '"ResourceName"')  # what review.flag_patterns look at
TAG_FIELDS = ("pi_email", "project_id", "fund_org", "cost_center", "account_code", "reference_1", "reference_2")


def _tag_path(key: str) -> str:
    safe = (key or "~unused~").replace("\\", "\\\\").replace('"', '\\"')
    return sql_literal('$."' + safe + '"')


def _tag_expr(key: str, index: int) -> str:
    """The tag's value: exact key first (from one parse of the JSON), else a key equal after trimming and
    lower-casing (the real FOCUS sample has both "org" and " org")."""
    if not key:
        return "CAST(NULL AS VARCHAR)"
    exact = f"tag_values[{index}]"
    wanted = key.strip().lower()
    fallback = (
        "json_extract_string(tags_json, '$.\"' || list_filter(json_keys(tags_json), "
        f"lambda k: lower(trim(k)) = {sql_literal(wanted)} AND k NOT LIKE '%\"%' "
        "AND k NOT LIKE '%\\%')[1] || '\"')"
    )
    # Listing the keys is the dear part: only when the key's text appears in the JSON at all (or the JSON
    # spells characters as \u escapes, which a text search cannot see through).
    maybe_there = f"(contains(tags_lower, {sql_literal(wanted)}) OR contains(tags_json, '\\u'))"
    return f"coalesce({exact}, CASE WHEN tags_json IS NOT NULL AND {maybe_there} THEN {fallback} END)"


def _settings_sql(rules: AttributionRules) -> dict[str, str | None]:
    """The config's settings a registry condition may name ({currency}, {fund_org_matches}); None: not set, so
    a reason that needs it is off."""
    fund = " OR ".join(f"regexp_full_match(fund_org, {sql_literal(p)}, 'i')" for p in rules.fund_org_patterns)
    return {"currency": sql_literal(rules.currency_code), "fund_org_matches": fund or None}


def _conditions(rules: AttributionRules, level: str) -> list[tuple[str, str, str]]:
    """(code, condition, screen) of every registry reason of the level that applies under these rules, in the
    registry's order; a per-pattern reason once per review.flag_patterns entry."""
    settings = _settings_sql(rules)
    out = []
    for reason in review_reasons.reasons(level):
        needed = {k: v for k, v in settings.items() if "{" + k + "}" in (reason.condition or "")}
        if None in needed.values():
            continue
        condition = reason.condition or ""
        for name, sql in needed.items():
            condition = condition.replace("{" + name + "}", sql or "")
        screen = reason.screen or condition
        if reason.per_pattern:
            out += [(f"{reason.code}:{p}", condition.replace("{pattern_hit}", _flagged_by(p)), screen)
                    for p in rules.flag_patterns]
        else:
            out.append((reason.code, condition, screen))
    return out


def _reason_exprs(rules: AttributionRules, level: str) -> list[str]:
    """One `CASE WHEN condition THEN code END` per reason of the level (NULL where it does not apply)."""
    return [f"CASE WHEN {condition} THEN {sql_literal(code)} END" for code, condition, _ in _conditions(rules, level)]


def _line_flag_expr(rules: AttributionRules) -> str:
    """True when a line has any reason of its own: only those lines build the list that names them."""
    screens = dict.fromkeys(f"coalesce({screen}, false)" for _, _, screen in _conditions(rules, "line"))
    return f"({' OR '.join(screens) or 'false'})"


def _flagged_by(pattern: str) -> str:
    """SQL: the pattern matches (anywhere, ignoring case) one of the columns review patterns look at."""
    return pattern_hit_sql(pattern, FLAGGED_COLUMNS)


def pattern_hit_sql(pattern: str, columns: Sequence[str]) -> str:
    """SQL: a review.flag_patterns entry's test, `pattern` found (anywhere, ignoring case, in RE2) in one of
    `columns` (the raw row's ServiceName, ResourceId, ResourceName, or the charge's columns holding them)."""
    return " OR ".join(f"coalesce(regexp_matches({c}, {sql_literal(pattern)}, 'i'), false)" for c in columns)


def _ts(column: str) -> str:
    return utc_timestamp_sql(f'"{column}"')


def _dec(column: str) -> str:
    return money_from_text(f'"{column}"')


def validated_select_sql(rules: AttributionRules) -> str:
    """SELECT producing a month's validated_lines from focus_raw (parameter: the month); the charges_validated
    view adds each raw row's descriptive columns, lineage and row_hash back."""
    keys = rules.tag_keys
    paths = ", ".join(_tag_path(keys.get(f, "")) for f in TAG_FIELDS)
    tag = {f: _tag_expr(keys.get(f, ""), i + 1) for i, f in enumerate(TAG_FIELDS)}
    # Only the window that tells identical lines apart needs the identity, not its md5: DuckDB's own hash of
    # the same values is far cheaper. (A 64-bit collision would only number two different lines as copies;
    # their charge ids still differ, through the md5 of each line's own identity.)
    identity_key = f"hash({identity_values_sql()})"
    category_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in CANONICAL_CATEGORY.items())
    tag_reasons = ",\n        ".join(_reason_exprs(rules, "tag")) or "NULL"
    # Most rows match no flag pattern: one cheap screen of all patterns (charges/pattern_screen.py) decides
    # whether a row needs the pattern-by-pattern RE2 test that names each.
    screen = pattern_screen(rules.flag_patterns, FLAGGED_COLUMNS)
    screen_columns = f", {screen.projection}" if screen.projection else ""
    line_reasons = ",\n        ".join(_reason_exprs(rules, "line")) or "NULL"
    return f"""
WITH ident AS NOT MATERIALIZED (  -- read twice, but kept in memory it would hold 30 bytes a line
    SELECT source, file_name, file_row_number,
        {identity_key} AS identity_key
    FROM focus_raw
    WHERE billing_month = $month
),
repeated AS (
    -- Identical lines are told apart by their order (file name, row). Only lines whose identity occurs more
    -- than once (a grouping, far cheaper than sorting every line) are numbered by the window, on a narrow
    -- projection, and joined back: joining every line's ordinal spilled to disk at ten million rows.
    SELECT source, file_name, file_row_number,
        row_number() OVER (PARTITION BY identity_key ORDER BY file_name, file_row_number) AS occurrence
    FROM ident SEMI JOIN (SELECT identity_key FROM ident GROUP BY identity_key HAVING count(*) > 1)
        USING (identity_key)
),
-- Attribution depends on the Tags text alone, and a month has far fewer distinct Tags than lines (a resource's
-- tags repeat on each of its lines): each distinct text is parsed, mapped and judged once, then joined back.
tags_seen AS (
    SELECT DISTINCT "Tags" AS tags_text FROM focus_raw WHERE billing_month = $month
),
tags_typed AS (
    SELECT tags_text,
        -- Valid JSON whose first character is '{{' is an object: one parse, not a second one for json_type.
        CASE WHEN tags_text IS NULL THEN NULL WHEN NOT json_valid(tags_text) THEN 'INVALID'
             WHEN ltrim(tags_text, chr(32) || chr(9) || chr(10) || chr(13)) LIKE '{{%' THEN 'OBJECT' ELSE 'OTHER' END
            AS tags_kind
    FROM tags_seen
),
tags_keyed AS (
    SELECT *, CASE WHEN tags_kind = 'OBJECT' THEN json_keys(tags_text) END AS top_keys FROM tags_typed
),
tags_base AS (
    SELECT tags_text,
        CASE WHEN tags_kind = 'OBJECT' THEN tags_text END AS tags_json,
        -- lowered once: a rarely used tag (reference_2) leaves its exact key absent from most Tags
        CASE WHEN tags_kind = 'OBJECT' THEN lower(tags_text) END AS tags_lower,
        -- Not an object, or an object that repeats a key: DuckDB reads the first value, Python and JavaScript the
        -- last, so which one the owner meant is for a reviewer to say (the row stays visible, in review).
        coalesce(tags_kind <> 'OBJECT' OR len(top_keys) <> list_unique(top_keys), false) AS tags_invalid
    FROM tags_keyed
),
tags_extracted AS (
    SELECT *, json_extract_string(tags_json, [{paths}]) AS tag_values FROM tags_base
),
tags_mapped AS (
    SELECT tags_text, tags_invalid,
        nullif(lower(trim({tag["pi_email"]})), '') AS pi_email,
        nullif(trim({tag["project_id"]}), '') AS project_id,
        nullif({tag["fund_org"]}, '') AS fund_org,
        nullif(trim({tag["cost_center"]}), '') AS cost_center,
        nullif(trim({tag["account_code"]}), '') AS account_code,
        nullif(trim({tag["reference_1"]}), '') AS reference_1,
        nullif(trim({tag["reference_2"]}), '') AS reference_2
    FROM tags_extracted
),
attribution AS (
    SELECT * EXCLUDE (tags_invalid), list_filter([
        {tag_reasons}
    ], lambda x: x IS NOT NULL) AS tag_reasons
    FROM tags_mapped
),
lines AS (
    SELECT r.*, {identity_hash_sql('r.')} AS identity_hash,
        coalesce(o.occurrence, 1) AS occurrence,
        a.* EXCLUDE (tags_text),
        {screen.test} AS any_pattern_hit
    FROM (SELECT *{screen_columns} FROM focus_raw WHERE billing_month = $month) r
        LEFT JOIN repeated o USING (source, file_name, file_row_number)
        LEFT JOIN attribution a ON a.tags_text IS NOT DISTINCT FROM r."Tags"
),
flagged AS (
    SELECT *,
        CASE WHEN {_line_flag_expr(rules)} THEN list_concat(tag_reasons, list_filter([
            {line_reasons}
        ], lambda x: x IS NOT NULL)) ELSE tag_reasons END AS review_reasons
    FROM lines
)
SELECT
    {charge_id_sql("identity_hash", "occurrence")} AS charge_id,
    billing_month, source, file_name, file_row_number, import_id,
    CASE lower("ChargeCategory") {category_case} END AS charge_category,
    {_dec("PricingQuantity")} AS pricing_quantity,
    upper("BillingCurrency") AS billing_currency,
    {_dec("ListCost")} AS list_cost,
    {_dec("ContractedCost")} AS contracted_cost,
    {_dec("BilledCost")} AS billed_cost,
    {_dec("EffectiveCost")} AS effective_cost,
    {_ts("BillingPeriodStart")} AS billing_period_start,
    {period_end_sql('"BillingPeriodStart"', '"BillingPeriodEnd"')} AS billing_period_end,
    {_ts("ChargePeriodStart")} AS charge_period_start,
    {period_end_sql('"ChargePeriodStart"', '"ChargePeriodEnd"')} AS charge_period_end,
    pi_email, project_id, fund_org, cost_center, account_code, reference_1, reference_2,
    review_reasons,
    len(review_reasons) > 0 AS needs_review,
    $validated_at AS validated_at,
    $run_id AS run_id
FROM flagged
"""
