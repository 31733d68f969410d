"""One run per mailbox and ledger: an fcntl lock on `service.lock_path`.

A cron job that starts while the previous run is still draining would fetch
the same messages twice.  The kernel drops a flock when its process dies
(kill -9 included), so a crash never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from ingest.errors import LockedError, StateDirError
from ingest.redact import redact_url


class RunLock:
    """Exclusive, non-blocking; `with RunLock(path, what): ...`."""

    def __init__(self, path: Path, what: str = "") -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # 0600: the holder line names the mailbox and the ledger.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateDirError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc} (running as uid {os.getuid()}"
                f" gid {os.getgid()}). Mount a volume writable by this user on {self.path.parent.absolute()},"
                " or set service.lock_path to a writable place"
            ) from None
        with contextlib.suppress(OSError):  # an existing file from an older version may be 0644
            os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = redact_url(os.pread(fd, 200, 0).decode(errors="replace").strip()) or "unknown"
            os.close(fd)
            raise LockedError(
                f"another bso-ingest run holds {self.path} ({holder}); two runs on one mailbox and ledger"
                " would overlap, so this one stops"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {redact_url(self.what)}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
