"""Subsidy rules (config `pricing.subsidies`) applied to a month's priced charges (usage and fees).

Kinds apply in the order allowance, percent, cap, credit (rules of one kind in the config's order), each on what
the charges still bill after the rules before it:
- allowance: the first `quantity` units of `unit` (of `service_name`, `sources` when given) per project or PI
  in the month are free, first by end time: the credit is their billed value at the prices they were billed at;
- percent: `percent`% of the billed amount of charges whose account group is `group` (empty: every group);
- cap: what a project (or PI) is billed beyond `amount` in the month, counted in order of end time;
- credit: a PI's one-time credit, consumed across months (months are priced in order): what is left of
  `amount` after earlier months' applications, up to what the PI's charges still bill.
A charge without attribution (an unmapped account) counts under its account. Each applied rule is one credit
line per source and payer (PI, project, fund): ChargeCategory Credit, ListCost 0, BilledCost the credit negated,
its description "<rule id>: <what>", and a row in subsidy_applications.

Work per charge is exact (MONEY); each rule's credit lines are rounded to whole cents (ROUND_HALF_EVEN on the
rule's total, shared over its lines by largest remainder) so statements show whole cents. The rules after it
work on the exact amounts, so a cap or credit can differ from the exact figure by less than a cent per rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import duckdb

from ocb_pipelines.core.money import CENT
from ocb_pipelines.core.pricing_config import SubsidyRule
from ocb_pipelines.core.review_reasons import sql_literal
from ocb_pipelines.pricing.bulk import insert_rows
from ocb_pipelines.pricing.focus_out import CHARGES_INSERT_TARGET, CHARGES_TABLE
from ocb_pipelines.pricing.rating import PARTS_TABLE
from ocb_pipelines.warehouse.database import MONEY

KIND_ORDER = ("allowance", "percent", "cap", "credit")
NET_TABLE = "pricing_net"
ORDER = "order_at, import_key, file_row_number"  # end time, then import and line (as tiers count)


@dataclass(frozen=True)
class CreditLine:
    """One applied rule's credit for one source and payer."""

    rule: SubsidyRule
    source: str
    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    account: str | None  # the account of unattributed charges it discounts
    amount: Decimal  # positive, whole cents
    quantity: Decimal | None  # allowance: the free quantity used


def rules_for(rules: list[SubsidyRule], month: str) -> list[SubsidyRule]:
    """The rules in force in the month, in the order they apply."""
    return sorted((r for r in rules if r.applies_in(month)), key=lambda r: KIND_ORDER.index(r.kind))


def what(rule: SubsidyRule) -> str:
    """The rule in words (its description when the config gives one)."""
    if rule.description.strip():
        return rule.description.strip()
    if rule.kind == "allowance":
        service = f" of {rule.service_name}" if rule.service_name else ""
        return f"first {rule.quantity} {rule.unit}{service} per {rule.per} per month free"
    if rule.kind == "percent":
        return f"{rule.percent}% of the charges of {'group ' + rule.group if rule.group else 'every group'}"
    if rule.kind == "cap":
        return f"charges above {rule.amount} per {rule.per} per month"
    return f"one-time credit of {rule.amount} for {rule.pi_email}"


def apply_rules(con: duckdb.DuckDBPyConnection, month: str, rules: list[SubsidyRule],
                usage_charges: str) -> list[CreditLine]:
    """Apply the month's rules to its usage charges (a SELECT with pricing_charges' columns) and the fees in
    pricing_charges; the credit lines, rounded."""
    applicable = rules_for(rules, month)
    if not applicable:
        return []
    columns = ("import_key, file_row_number, source, account, pi_email, project_id, fund_org, group_key, "
               "service_name, order_at, billed_cost")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {NET_TABLE} AS
        SELECT * EXCLUDE (billed_cost), billed_cost AS net,
            coalesce('p:' || lower(project_id), 'a:' || lower(account)) AS project_owner,
            coalesce('i:' || lower(pi_email), 'p:' || lower(project_id), 'a:' || lower(account)) AS pi_owner
        FROM (SELECT {columns} FROM ({usage_charges})
              UNION ALL SELECT {columns} FROM {CHARGES_TABLE} WHERE kind = 'fee')
    """)
    lines: list[CreditLine] = []
    for rule in applicable:
        left = rule.amount - _applied_before(con, month, rule) if rule.kind == "credit" else None
        if left is not None and left <= 0:
            continue  # the credit is spent
        _credit_table(con, rule, left)
        con.execute(f"""UPDATE {NET_TABLE} n SET net = n.net - c.credit FROM pricing_credit c
                        WHERE c.import_key = n.import_key AND c.file_row_number = n.file_row_number""")
        lines += _rounded_lines(con, rule, left)
    return lines


def _filters(rule: SubsidyRule) -> str:
    # Only attributed charges: a charge without a PI or project goes to review, and a subsidy line made for it
    # would have no owner either (a reviewer would have to reject both). Once its account is in the accounts file,
    # re-pricing the open month gives it its subsidies.
    conditions = ["n.net > 0", "n.pi_email IS NOT NULL", "n.project_id IS NOT NULL"]
    if rule.sources:
        conditions.append(f"lower(n.source) IN ({', '.join(sql_literal(s.lower()) for s in rule.sources)})")
    if rule.pi_email:
        conditions.append(f"lower(n.pi_email) = {sql_literal(rule.pi_email.lower())}")
    if rule.project_id:
        conditions.append(f"lower(n.project_id) = {sql_literal(rule.project_id.lower())}")
    if rule.service_name:
        conditions.append(f"lower(n.service_name) = {sql_literal(rule.service_name.lower())}")
    if rule.kind == "percent" and rule.group:
        conditions.append(f"n.group_key = {sql_literal(rule.group.lower())}")
    return " AND ".join(conditions)


def _money(value: Decimal) -> str:
    return f"CAST({sql_literal(str(value))} AS {MONEY})"


def _credit_table(con: duckdb.DuckDBPyConnection, rule: SubsidyRule, left: Decimal | None) -> None:
    """pricing_credit: (import_key, file_row_number, credit, quantity) of the charges the rule discounts; `left`:
    what a credit rule has left."""
    owner = f"n.{rule.per}_owner"
    before = "coalesce(sum({v}) OVER (PARTITION BY owner ORDER BY {o} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 " \
             "PRECEDING), 0)"
    if rule.kind == "allowance":
        sql = f"""
            WITH eligible AS (
                SELECT p.import_key, p.file_row_number, p.part_quantity, p.billed_unit_price, {owner} AS owner,
                    n.order_at, p.part, p.tier_from, n.net
                FROM {PARTS_TABLE} p JOIN {NET_TABLE} n USING (import_key, file_row_number)
                WHERE lower(p.unit) = {sql_literal(rule.unit.lower())} AND {_filters(rule)}
            ),
            used AS (
                SELECT *, {before.format(v='part_quantity', o=ORDER + ', part, tier_from')} AS used_before
                FROM eligible
            ),
            free AS (
                SELECT import_key, file_row_number, any_value(net) AS net,
                    sum(least(part_quantity, {_money(rule.quantity)} - used_before)) AS quantity,
                    sum(round(least(part_quantity, {_money(rule.quantity)} - used_before) * billed_unit_price, 12))
                        AS credit
                FROM used WHERE used_before < {_money(rule.quantity)} GROUP BY import_key, file_row_number
            )
            SELECT import_key, file_row_number, quantity, least(credit, net) AS credit FROM free"""
    elif rule.kind == "percent":
        fraction = (rule.percent / 100).quantize(Decimal("1E-12"), rounding=ROUND_HALF_EVEN)
        sql = f"""SELECT import_key, file_row_number, CAST(NULL AS {MONEY}) AS quantity,
                         round(net * CAST({sql_literal(str(fraction))} AS DECIMAL(18, 12)), 12) AS credit
                  FROM {NET_TABLE} n WHERE {_filters(rule)}"""
    else:
        # cap: what goes beyond the limit, per owner; credit: what the PI's charges bill until the credit is spent
        if rule.kind == "cap":
            pool, limit = owner, _money(rule.amount)
            credit, keep = f"billed_before + net - greatest(billed_before, {limit})", f"billed_before + net > {limit}"
        else:
            pool, limit = "''", _money(left)
            credit, keep = f"least(net, {limit} - billed_before)", f"billed_before < {limit}"
        sql = f"""
            WITH eligible AS (
                SELECT import_key, file_row_number, net, {pool} AS owner, order_at
                FROM {NET_TABLE} n WHERE {_filters(rule)}
            ),
            counted AS (SELECT *, {before.format(v='net', o=ORDER)} AS billed_before FROM eligible)
            SELECT import_key, file_row_number, CAST(NULL AS {MONEY}) AS quantity, {credit} AS credit
            FROM counted WHERE {keep}"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE pricing_credit AS SELECT import_key, file_row_number, "
                f"CAST(quantity AS {MONEY}) AS quantity, CAST(credit AS {MONEY}) AS credit FROM ({sql}) "
                "WHERE credit > 0")


def _applied_before(con: duckdb.DuckDBPyConnection, month: str, rule: SubsidyRule) -> Decimal:
    """What a credit rule applied in the months before this one."""
    return Decimal(con.execute(
        "SELECT coalesce(sum(amount), 0) FROM subsidy_applications WHERE rule_id = ? AND billing_month < ?",
        [rule.id, month]).fetchall()[0][0])


def _rounded_lines(con: duckdb.DuckDBPyConnection, rule: SubsidyRule, left: Decimal | None) -> list[CreditLine]:
    rows = con.execute(f"""
        SELECT n.source, n.pi_email, n.project_id, n.fund_org, CASE WHEN n.project_id IS NULL THEN n.account END,
            sum(c.credit), sum(c.quantity)
        FROM pricing_credit c JOIN {NET_TABLE} n USING (import_key, file_row_number)
        GROUP BY ALL ORDER BY ALL
    """).fetchall()
    if not rows:
        return []
    exact = [Decimal(r[5]) for r in rows]
    total = sum(exact, Decimal(0)).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if left is not None:  # a credit never gives more than it has left, not even a rounded half cent
        total = min(total, left.quantize(CENT, rounding=ROUND_FLOOR))
    amounts = largest_remainder(exact, total)
    return [CreditLine(rule, s, pi, project, fund, account, amount, Decimal(q) if q is not None else None)
            for (s, pi, project, fund, account, _, q), amount in zip(rows, amounts, strict=True) if amount > 0]


def largest_remainder(exact: list[Decimal], total: Decimal) -> list[Decimal]:
    """Whole-cent amounts that sum to `total`: each exact amount floored to the cent, the cents left over given
    to the largest remainders (ties: the earlier line)."""
    floors = [a.quantize(CENT, rounding=ROUND_FLOOR) for a in exact]
    left = int((total - sum(floors, Decimal(0))) / CENT)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:max(left, 0)]:
        floors[i] += CENT
    return floors


def insert_credit_charges(con: duckdb.DuckDBPyConnection, month: str, lines: list[CreditLine],
                          import_keys: dict[str, int], file_name: str) -> None:
    """The credit lines into pricing_charges, numbered 1..n within each source's subsidy import."""
    if not lines:
        return
    year, mon = int(month[:4]), int(month[5:])
    start, end = datetime(year, mon, 1), datetime(year + (mon == 12), mon % 12 + 1, 1)
    numbers: dict[str, int] = {}
    rows = []
    for line in lines:
        rule = line.rule
        numbers[line.source] = numbers.get(line.source, 0) + 1
        payer = line.project_id or line.pi_email or line.account or ""
        extras = {"x_ocb_rule": rule.id, "x_ocb_rule_kind": rule.kind, "x_ocb_account": line.account}
        rows.append([
            import_keys[line.source], numbers[line.source], line.source, file_name, "credit", line.account,
            line.pi_email, line.project_id, line.fund_org, "", rule.service_name or "Subsidy", "Other",
            f"{rule.id}/{payer}", rule.id, "Subsidy", f"{rule.id}: {what(rule)}", start, end, end, "Credit",
            "One-Time" if rule.kind == "credit" else "Recurring", rule.unit if rule.kind == "allowance" else None,
            line.quantity, None, None, Decimal(0), -line.amount, json.dumps(extras, separators=(",", ":")),
        ])
    insert_rows(
        con, CHARGES_INSERT_TARGET,
        rows,
    )


def record_applications(con: duckdb.DuckDBPyConnection, month: str, lines: list[CreditLine]) -> None:
    """One subsidy_applications row per credit line: what each rule gave whom (credit rules read it back)."""
    if lines:
        insert_rows(
            con, "subsidy_applications",
            [[month, line.rule.id, line.rule.kind, line.source, line.pi_email, line.project_id, line.fund_org,
              line.amount, line.quantity, what(line.rule)] for line in lines],
        )
