"""Billing-period lifecycle: open -> closed -> finalized, reopen with a reason."""
