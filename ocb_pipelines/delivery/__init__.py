"""Delivery: one email per PI with every project statement attached, logged so nothing is sent twice."""
