"""The output folder: created and checked before any work, and locked for the whole run.

Two runs writing one folder would interleave their results; the lock (an exclusive `fcntl.flock` on
<output>/.lock) makes the second one stop with a message naming the first. The kernel drops the lock
when the process ends, however it ends, so a crash or a kill never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = ".lock"


class OutputDirError(RuntimeError):
    """The output folder cannot be used (a file, under a file, not writable, or in use by another run)."""


def prepare_output_dir(path: Path) -> Path:
    """Create `path` if needed and check that this process can write there."""
    for parent in reversed([path, *path.parents]):
        if parent.exists() and not parent.is_dir():
            what = "is a file" if parent == path else f"lies under {parent}, which is a file"
            raise OutputDirError(f"output folder {path} {what}; choose another --output-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputDirError(f"cannot create output folder {path}: {error.strerror}; choose another --output-dir") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(f"output folder {path} is not writable; choose another --output-dir or fix its permissions")
    return path


class OutputLock:
    """Exclusive lock on an output folder, held from `acquire()` until `release()` or process exit."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._handle = None

    def acquire(self) -> "OutputLock":
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as error:
            raise OutputDirError(f"cannot create the lock file {self.path}: {error.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise OutputDirError(f"output folder {self.path.parent} is in use by another run ({holder}); wait for it "
                                 "to finish or choose another --output-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor drops the flock
            self._handle = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
