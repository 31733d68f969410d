"""Claim leases: who is working on a message right now, and until when.

A lease is the owner string of one claim plus an expiry.  The ledger stores it
on the message's row (ingest/ledger.py): `claim` grants it, `renew` pushes the
expiry on, `record`/`fail` require it and clear it.  Any other process, or
another worker in this one, that finds a live lease leaves the message alone.

    owner = "<host id>:<pid>:<random token>"

The token makes every claim's owner unique, even two workers of one process.
The host id (hostname, boot id and PID namespace) and the pid say where the
owner ran, so a lease whose process is provably gone (same host, same boot,
same PID namespace, no such pid) can be taken over before it expires: a
restart after `kill -9` does not wait out the lease.  A pid that exists (even
reused by another program) proves nothing and is left to expire.

`keep_alive` renews a lease in a background thread while a long upload or a
retry loop runs, so a slow but live owner never loses it.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

log = logging.getLogger(__name__)

# A lease lives this long unless renewed; `keep_alive` renews it every quarter.
DEFAULT_LEASE_SECONDS = 120.0
MAX_OWNER = 200  # host id (<= ~130) + pid + token


@dataclass(frozen=True)
class Lease:
    """Proof that this caller holds `key`; pass it to record/fail/renew."""

    key: str
    owner: str
    expires_at: datetime


@cache
def host_id() -> str:
    """Names this host, boot and PID namespace: where a pid means one process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()[:8]
    except OSError:
        boot = "-"
    try:
        pidns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pidns = "-"
    # No ':' inside: it separates the owner's parts.
    name = socket.gethostname().replace(":", "_")[:100]
    return f"{name}/{boot}/{pidns}"


def new_owner() -> str:
    """A unique owner for one claim, by this process."""
    return f"{host_id()}:{os.getpid()}:{secrets.token_hex(8)}"


def same_process(owner: str | None) -> bool:
    """True when `owner` is a claim made by this very process (another worker of it, or an earlier claim)."""
    return bool(owner) and (owner or "").rpartition(":")[0] == f"{host_id()}:{os.getpid()}"


def owner_is_dead(owner: str | None) -> bool:
    """True only when `owner` provably ran here and its process no longer exists."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != host_id():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    # A zombie (exited, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class Renewer(Protocol):
    """The part of the Ledger `keep_alive` uses."""

    def renew(self, lease: Lease, now: datetime, seconds: float) -> Lease | None: ...


class Keeper:
    """What `keep_alive` yields: whether the lease was lost meanwhile."""

    def __init__(self) -> None:
        self.lost = False
        self.stop = threading.Event()


@contextmanager
def keep_alive(ledger: Renewer, lease: Lease, seconds: float, clock: Callable[[], datetime]) -> Iterator[Keeper]:
    """Renews `lease` every `seconds / 4` until the block ends.

    A renewal that fails (the database is unreachable for a moment) is tried
    again at the next tick; one that finds the lease taken over stops and
    marks the keeper `lost`, and `record` will then refuse our outcome.
    """
    keeper = Keeper()
    interval = max(seconds / 4, 0.05)

    def run() -> None:
        while not keeper.stop.wait(interval):
            try:
                renewed = ledger.renew(lease, clock(), seconds)
            except Exception as exc:  # a flaky database must not kill the renewer
                log.warning("lease renewal of %s failed, will retry: %s", lease.key, exc)
                continue
            if renewed is None:
                keeper.lost = True
                log.warning("lease of %s was taken over by another process", lease.key)
                return

    thread = threading.Thread(target=run, name=f"lease-{lease.key[:12]}", daemon=True)
    thread.start()
    try:
        yield keeper
    finally:
        keeper.stop.set()
        thread.join(timeout=max(interval * 2, 5.0))


__all__ = ["DEFAULT_LEASE_SECONDS", "Keeper", "Lease", "host_id", "keep_alive", "new_owner", "owner_is_dead",
           "same_process"]
