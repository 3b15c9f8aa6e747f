"""Outputs: rendering tables for people (terminal) and machines (CSV, JSON, Parquet)."""
