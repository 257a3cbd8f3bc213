"""Bringing another tool's history into the warehouse (OpenChargeback's billing.db), no Dagster."""
