"""The journal's rules (no Dagster): rounding to cents, fund parsing, accounts and descriptions.

One place for each rule the gl journal and every listing layout share (ledger/journal.py, ledger/layouts.py).

Rounding (one rule, documented in README): amounts are exact Decimals until the end. The month's
exact approved total is rounded to cents half-to-even (T). Each line's exact net is floored to
cents; the cents still missing to reach T (always between 0 and the number of lines) go one each to
the lines with the largest remainders (ties: the earlier line in journal order). This is the
largest-remainder method: lines sum to T exactly, and no line moves by a cent or more from its
exact amount.

Funds are split into components (fund, orgn, program, activity, location, or any other named
group) by `journal.fund_org_regex`, which must match the whole fund_org (in RE2, linear time: see
core/patterns.py), and every named group must capture something. Without a `fund` group the fund is
the whole string.

Accounts: the charge's `account_code` tag, else the source's `imports.known_sources[].account_code`,
else `journal.default_account`; it must match `journal.account_code_regex` when one is set.

Descriptions: `journal.debit_description` / `credit_description` with `{source} {period} {fund_org}
{pi_email} {project_id} {reference_id} {account}`, whitespace collapsed and cut to
`journal.description_max_length` (one less when it will get a formula-guard quote, so the cell still fits).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from ocb_pipelines.core import patterns
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ledger.csv_safety import FORMULA_CHARS

COMPONENTS = ("fund", "orgn", "program", "activity", "location")
DESCRIPTION_FIELDS = ("source", "period", "fund_org", "pi_email", "project_id", "reference_id", "account")
HUNDRED = Decimal(100)


def cents_amount(cents: int) -> Decimal:
    """Whole cents as a Decimal with exactly two places (100 -> 1.00, -5 -> -0.05)."""
    return Decimal(int(cents)).scaleb(-2)



def round_total(amount: Decimal) -> Decimal:
    """The month's total in cents: half to even (the ledger rule of core.money.to_cents)."""
    return Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def allocate_cents(amounts: Sequence[Decimal]) -> list[int]:
    """Whole cents per amount, summing exactly to the rounded total (largest-remainder method).

    Each amount is floored to cents; the missing cents go one each to the amounts with the largest
    remainders, ties to the earlier one. Works for negative amounts too (floor is toward -infinity).
    """
    if not amounts:
        return []
    scaled = [Decimal(a) * HUNDRED for a in amounts]
    floors = [int(s.to_integral_value(rounding=ROUND_FLOOR)) for s in scaled]
    remainders = [s - f for s, f in zip(scaled, floors, strict=True)]
    total = int(sum(scaled, Decimal(0)).to_integral_value(rounding=ROUND_HALF_EVEN))
    extra = total - sum(floors)
    if not 0 <= extra <= len(amounts):  # cannot happen: the remainders are each in [0, 1)
        raise ArithmeticError(f"cent allocation out of range: {extra} extra cents over {len(amounts)} lines")
    order = sorted(range(len(amounts)), key=lambda i: (-remainders[i], i))
    for i in order[:extra]:
        floors[i] += 1
    return floors


def fund_regex_groups(regex: str) -> tuple[str, ...]:
    return patterns.group_names(regex)


def parse_fund_org(fund_org: str, regex: str) -> dict[str, str] | None:
    """The fund's components by the regex's named groups, or None when it does not parse.

    The regex must match the whole value and every named group must capture a non-empty value.
    Without a `fund` group the fund is the whole string (OpenChargeback's behaviour)."""
    value = (fund_org or "").strip()
    if not value:
        return None
    found = patterns.groups(regex, value)
    if found is None:
        return None
    groups = {k: v.strip() for k, v in found.items()}
    if any(not v for v in groups.values()):
        return None
    groups.setdefault("fund", value)
    return groups


def resolve_account(tag_account: str | None, settings: OcbSettings, source: str) -> tuple[str, str]:
    """(account, where it came from): the charge's tag, else the source's account_code, else the default."""
    if tag_account and tag_account.strip():
        return tag_account.strip(), "tag"
    known = settings.source(source)
    if known is not None and known.account_code.strip():
        return known.account_code.strip(), "source"
    if settings.journal.default_account.strip():
        return settings.journal.default_account.strip(), "default"
    return "", "none"


def account_ok(account: str, regex: str) -> bool:
    return bool(account) and (not regex or patterns.full_match(regex, account))


def description_problems(settings: OcbSettings) -> list[str]:
    """Placeholders in the description templates that do not exist (or are not plain names)."""
    problems = []
    for key in ("debit_description", "credit_description"):
        template = getattr(settings.journal, key)
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            problems.append(f"journal.{key} {template!r} is not a valid template: {exc}")
            continue
        bad = [n for n in names if n not in DESCRIPTION_FIELDS]
        if bad:
            problems.append(f"journal.{key} uses {', '.join('{' + b + '}' for b in bad)}; "
                            f"allowed: {' '.join('{' + f + '}' for f in DESCRIPTION_FIELDS)}")
    return problems


def several(values: Sequence[str], noun: str) -> str:
    return values[0] if len(values) == 1 else (f"{len(values)} {noun}" if values else "")


def cut_description(text: str, max_len: int) -> str:
    """Collapse whitespace and cut to max_len (one less when a formula guard quote will be added)."""
    text = " ".join(str(text).split())
    limit = max_len - 1 if text.startswith(FORMULA_CHARS) else max_len
    return text[: max(limit, 0)].rstrip()


def naming_origin(origin: str, max_len: int, description: str) -> str:
    """An adjustment line's description starts with the month it corrects (`ADJ 2025-01 aws ...`), cut to the
    configured length like every description."""
    return cut_description(f"ADJ {origin} {description}", max_len) if origin else description


def describe(template: str, max_len: int, **values: str) -> str:
    return cut_description(template.format(**{k: values.get(k, "") or "" for k in DESCRIPTION_FIELDS}), max_len)

