"""Statements: one PDF (and a CSV of every line) per PI and project, for a closed billing month."""
