"""Benchmarks for issue 6: scripts that print figures (see README.md and RESULTS.md)."""
