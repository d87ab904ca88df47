"""The engine: what runs in a worker, once a worker is woken.

absorb (saves taken in) → leases (claim) → plan → send (through the client) → outcomes (one
way to record every ending), driven by ``pipeline``; ``drain`` and ``sweep`` are the entry
points the tasks and commands call. See docs/architecture.md.
"""
