"""Temporary work directories that do not outlive their process, even after a SIGKILL.

A fresh workdir holds an owner file (pid and process start time). The next control plane
created on the machine removes every workdir whose owner is gone; a kept workdir (``keep``,
or a start failure) has its owner file removed and is left alone.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Protocol

TEMP_PREFIX = "devcluster-"
OWNER_FILE = "owner.pid"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def sweep_stale_workdirs() -> None:
    """Remove temp workdirs left by processes that died without cleaning up (SIGKILL)."""
    for d in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            pid_text, started = (d / OWNER_FILE).read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if _start_time(pid) != started:  # dead, or the pid was reused
            shutil.rmtree(d, ignore_errors=True)


def new_workdir() -> Path:
    """A fresh temp dir owned by this process (stale ones are swept first)."""
    sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)).resolve()
    (workdir / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    return workdir


def disown(workdir: Path) -> None:
    """Keep ``workdir``: no later sweep removes it."""
    (workdir / OWNER_FILE).unlink(missing_ok=True)


class Stoppable(Protocol):
    def stop(self) -> None: ...


_live: weakref.WeakSet[Stoppable] = weakref.WeakSet()
_atexit_lock = threading.Lock()
_atexit_registered = False


def _stop_all_at_exit() -> None:
    for item in list(_live):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            item.stop()


def stop_at_exit(item: Stoppable) -> None:
    """Call ``item.stop()`` at interpreter exit unless ``forget(item)`` came first."""
    global _atexit_registered
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_stop_all_at_exit)
            _atexit_registered = True
        _live.add(item)


def forget(item: Stoppable) -> None:
    _live.discard(item)
