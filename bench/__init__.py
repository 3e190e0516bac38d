"""Benchmarks for the cleaning transforms."""
