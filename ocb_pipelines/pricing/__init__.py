"""Pricing: rates, fees, subsidy rules and funding splits (no Dagster)."""
