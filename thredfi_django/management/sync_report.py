"""What ``thredfi_sync --dry-run`` and ``--now`` print: every request or problem while there are
few, then a summary by model, operation and business, so the output stays readable for 10,000
objects as for 10."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

#: Selections up to this size show every request of a dry run in full by default.
SHOW_ALL_UP_TO = 20
#: Larger selections show this many requests in full, then the summary.
SAMPLE = 3


def shown_in_full(selected: int, *, full: bool, limit: int | None) -> int | None:
    """How many requests or problems to write in full (None: all of them)."""
    if full:
        return None
    if limit is not None:
        return limit
    return None if selected <= SHOW_ALL_UP_TO else SAMPLE


class SyncReport:
    """Writes items in full up to ``limit``, counts all of them, and sums them up at the end."""

    def __init__(self, command, limit: int | None) -> None:
        self.out = command.stdout
        self.style = command.style
        self.limit = limit
        self.written = 0
        #: (model, operation or outcome, business) -> n
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.rejected = 0

    def _room(self) -> bool:
        if self.limit is None or self.written < self.limit:
            self.written += 1
            return True
        return False

    # -- dry run -------------------------------------------------------------------------------

    def request(self, what: str, model: str, business: str, request: dict[str, Any]) -> None:
        """One planned request of a dry run."""
        self.counts[(model, request.get("action") or "nothing to send", business)] += 1
        if request.get("errors"):
            self.rejected += 1
        if self._room():
            self._write_request(what, request)

    def _write_request(self, what: str, request: dict) -> None:
        if not request.get("method"):
            reason = request.get("message") or request.get("action") or "nothing to send"
            self.out.write(f"(no request)  # {what}: {reason}")
            return
        self.out.write(
            self.style.MIGRATE_HEADING(f"{request['method']} {request.get('path')}  # {what}")
        )
        payload = request.get("payload")
        if payload is not None:
            self.out.write(json.dumps(payload, indent=2, sort_keys=True, default=str))
        for field, messages in (request.get("errors") or {}).items():
            self.out.write(self.style.WARNING(f"  would not be sent: {field}: {messages}"))

    def finish_dry_run(self) -> None:
        total = sum(self.counts.values())
        if self.written < total:
            self._write_summary("operation")
            if self.rejected:
                self.out.write(
                    self.style.WARNING(
                        f"{self.rejected:,} of them would not be sent (local validation "
                        "errors); --full shows each one's field errors."
                    )
                )
            self.out.write(
                f"Dry run: {total:,} request(s) planned, the first {self.written:,} shown in "
                "full (--full for all, --limit N for N); nothing sent or changed."
            )
        else:
            self.out.write(f"Dry run: {total:,} request(s) shown, nothing sent or changed.")

    # -- --now -----------------------------------------------------------------------------------

    def outcome(self, what: str, model: str, business: str, result) -> None:
        """One object pushed inline: problems and skips are written (up to the limit), with
        why; everything is counted by model, outcome and business."""
        self.counts[(model, result.outcome, business)] += 1
        if result.outcome in ("synced", "dry_run"):
            return
        if not self._room():
            return
        if result.ok:  # skipped: nothing was wrong, but nothing was sent either
            self.out.write(f"– {what}: {result.outcome}: {result.message or 'nothing to send'}")
            return
        self.out.write(self.style.ERROR(f"✗ {what}: {result.outcome}: {result.message}"))
        for field, messages in (result.field_errors or {}).items():
            self.out.write(f"    {field}: {' '.join(map(str, messages))}")

    def finish_now(self) -> None:
        by_outcome: Counter[str] = Counter()
        for (_model, outcome, _business), n in self.counts.items():
            by_outcome[outcome] += n
        listed = sum(n for outcome, n in by_outcome.items() if outcome != "synced")
        if listed > self.written:
            self.out.write(
                f"… and {listed - self.written:,} more not synced or skipped (--limit N lists "
                "more; `manage.py thredfi_status` and the admin's outbox list them all)."
            )
        if len(self.counts) > 1:
            self._write_summary("outcome")
        summary = ", ".join(f"{n:,} {outcome}" for outcome, n in sorted(by_outcome.items()))
        self.out.write(f"Done: {summary}.")

    def _write_summary(self, middle: str) -> None:
        rows = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        header = ("model", middle, "business")
        widths = [max(len(h), *(len(key[i]) for key, _ in rows)) for i, h in enumerate(header)]
        self.out.write(self.style.MIGRATE_HEADING(f"\nBy model, {middle} and business:"))
        head = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
        self.out.write(f"  {head}       n")
        for key, n in rows:
            cells = "  ".join(value.ljust(w) for value, w in zip(key, widths, strict=True))
            self.out.write(f"  {cells}  {n:>6,}")
