"""Pricing: usage (Slurm, storage) and fixed fees priced with the rates; subsidy rules."""
