"""Host-project models used by the test suite (filled in with the sync engine's mixins)."""
