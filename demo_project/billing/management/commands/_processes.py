"""What the demo supervisor needs from the operating system: one demo per var/ directory, children
that die with the supervisor, and who holds a busy port."""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import signal
from pathlib import Path
from typing import IO

#: prctl(2) option: the signal the kernel sends a child when its parent dies (Linux only).
PR_SET_PDEATHSIG = 1

_prctl = None
if os.path.exists("/proc/self"):
    try:
        _prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        pass


class VarDirBusy(Exception):
    """Another demo holds the lock on this var directory."""


def lock_var_dir(var_dir: Path, port: int) -> IO[str]:
    """Take the demo's lock on ``var_dir`` (database, broker, cache) for this process's lifetime.

    Two demos on one var/ would share one database and one broker queue: the second resets the
    first's admin password and the first's worker takes the second's work. The kernel drops an
    fcntl lock when its holder exits, even after kill -9, so a stale lock file never blocks.
    Raises VarDirBusy naming the holder. Keep the returned file open while the demo runs.
    """
    path = var_dir / "demo.lock"
    handle = open(path, "a+")  # noqa: SIM115  (held open for the demo's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise VarDirBusy(
            f"Another demo ({holder}) is using {var_dir}: it owns that database and broker. "
            f"Stop it first, or run this one on its own directory and ports, e.g. "
            f"DEMO_VAR_DIR={var_dir.parent / f'var-{port}'} DEMO_FAKE_PORT=<a free port> "
            f"bash scripts/demo.sh --port {port}"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, port {port}\n")
    handle.flush()
    return handle


def die_with_parent():
    """A ``preexec_fn`` that has the kernel SIGKILL the child when the supervisor dies, however
    it dies (kill -9 included), so no child keeps the ports. None where prctl is unavailable."""
    if _prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)

    return preexec


def who_listens(port: int) -> str | None:
    """``pid 123 (python manage.py runserver …)`` for the process listening on TCP ``port`` on
    this machine, from /proc (Linux); None when unknown."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
            if any(os.readlink(fd) in inodes for fd in fds):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                return f"pid {proc.name} ({cmdline})"
        except OSError:  # gone meanwhile, or another user's process
            continue
    return None


def port_in_use_message(port: int, what: str, setting: str) -> str:
    """Why ``port`` cannot be used, naming the process holding it and how to stop it."""
    holder = who_listens(port)
    text = f"Port {port} ({what}) is already in use"
    if holder is None:
        return f"{text}; pass another port ({setting})."
    pid = holder.split()[1]
    text += f" by {holder}."
    if any(mark in holder for mark in ("rundemo", "runserver", "celery", "testing.server")):
        text += " It looks like a demo left running."
    return f"{text} Stop it with `kill {pid}`, or pass another port ({setting})."
