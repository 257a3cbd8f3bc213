"""Property: for random approved charges the gl journal balances, and its PI lines equal the approved total."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ocb_pipelines.ledger import journal as jr

from .helpers import group, make_settings

SETTINGS = make_settings()

amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("5000"), places=12, allow_nan=False,
                      allow_infinity=False)
charges = st.lists(
    st.tuples(
        amounts,
        st.sampled_from(["aws", "hpc", "storage"]),
        st.sampled_from(["ABC-000001", "ABC-000002", "PHYS-123456"]),
        st.sampled_from([None, "54100", "54999"]),
        st.sampled_from([None, "G-1", "G-2"]),
        st.sampled_from(["a@x.edu", "b@x.edu"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(charges)
def test_gl_journal_balances_to_the_cent(rows):
    groups = [group(str(a), source=s, fund_org=f, account=acc, reference=r, pi=pi) for a, s, f, acc, r, pi in rows]
    journal = jr.build_gl_journal(groups, SETTINGS, "2025-01")
    approved = jr.round_total(sum((Decimal(a) for a, *_ in rows), Decimal(0)))
    debits = sum((x.amount for x in journal.lines if x.side == "debit"), Decimal(0))
    credits = sum((x.amount for x in journal.lines if x.side == "credit"), Decimal(0))
    assert debits == credits
    pi_net = sum((x.amount if x.side == "debit" else -x.amount for x in journal.lines if x.party == "pi"),
                 Decimal(0))
    assert pi_net == approved == journal.approved_total
    assert all(x.amount_cents > 0 for x in journal.lines)
    # each PI line is within a cent of its exact net
    assert all(abs((x.amount if x.side == "debit" else -x.amount) - x.exact) < Decimal("0.01")
               for x in journal.lines if x.party == "pi")
    if all(Decimal(a) >= 0 for a, *_ in rows):
        assert debits == approved  # no refunds: the debits are exactly the approved billed total
