"""Models that exist only for the benchmarks (an unsynced twin of the test app's Invoice)."""
