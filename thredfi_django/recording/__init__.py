"""Recording: what runs inside the host's own transaction when a synced object changes.

save → the row's change marker (the mixin) → ``receivers`` → ``changes`` (the sync-state row,
for deletes and parents) → ``after_commit`` → ``wake`` (a Celery task sent by name). Nothing
here talks HTTP or imports the engine: a save costs one statement and a wake-up after commit.
"""
