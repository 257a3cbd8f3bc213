"""The ledger: the GL journal accounting imports (balanced to the cent, safe to open in a spreadsheet)."""
