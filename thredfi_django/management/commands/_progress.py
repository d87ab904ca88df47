"""A progress display for long-running commands: a redrawn bar on a terminal, a plain line
every 10% otherwise (logs, CI, tests)."""

from __future__ import annotations

import time


class Progress:
    """``Progress(self.stdout, total, "queued")``; ``advance(n)`` per chunk; ``finish()``."""

    def __init__(self, out, total: int, label: str, *, width: int = 30) -> None:
        self.out = out
        self.total = total
        self.label = label
        self.width = width
        self.done = 0
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.total <= 0:
            return
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self._draw()
        else:
            decile = min(self.done * 10 // self.total, 10)
            if decile > self._last_decile:
                self._last_decile = decile
                percent = min(self.done * 100 // self.total, 100)
                self.out.write(f"{self.label} {self.done:,}/{self.total:,} ({percent}%)")

    def _draw(self) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.started
        self.out.write(
            f"\r{self.label} [{bar}] {self.done:,}/{self.total:,} {share:4.0%} {elapsed:5.1f}s",
            ending="",
        )
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self.total > 0:
            self._draw()
            self.out.write("")
