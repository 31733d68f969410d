"""Give the memory of big messages back to the system (glibc malloc; a no-op elsewhere).

Measured with bench/memory.py: ten 30 MB messages, processed one at a time,
still pushed the service to 17x the largest one.  The bytes were freed, but
glibc kept them: its mmap threshold grows to the size of the last large block
freed (up to 32 MB), after which a 30 MB message is carved out of a heap that
is never trimmed, and every worker thread gets its own malloc arena holding
its own freed megabytes.  So, at start-up (before any worker thread exists):

- a fixed mmap threshold of 1 MiB: every block that large (a message, a
  decoded attachment, a payload string) is mapped on its own and unmapped the
  moment it is freed;
- at most 2 arenas, so freed memory is shared by the workers instead of
  parked in one arena per thread;

and `trim()` after a big message returns what the heaps still hold.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20
ARENA_MAX = 2
# Messages at least this large are followed by a trim.
TRIM_AFTER_BYTES = 4 << 20

_lock = threading.Lock()
_libc: ctypes.CDLL | None = None
_tuned = False


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if not name:
            return None
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt  # noqa: B018 - glibc only: musl and others lack it
            libc.malloc_trim  # noqa: B018
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def tune() -> bool:
    """Sets the mmap threshold and arena count (once); True when glibc took them."""
    global _tuned
    with _lock:
        if _tuned:
            return True
        libc = _glibc()
        if libc is None:
            return False
        ok = all(libc.mallopt(param, value) == 1 for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD), (M_ARENA_MAX, ARENA_MAX)))
        _tuned = ok
        if not ok:
            log.debug("mallopt refused a setting; big messages may leave memory behind")
        return ok


def trim(size: int) -> None:
    """After a message of `size` raw bytes: hands freed heap memory back (glibc's malloc_trim)."""
    if size < TRIM_AFTER_BYTES:
        return
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = ["tune", "trim"]
