"""Fault injection for the emulator: latency (with jitter), a rate limit, random 5xx/429, a
connection reset after a ticket was created, and slow writes that land after
the client's timeout.

Every random decision comes from one `random.Random(seed)` behind a lock, so a
client that sends its requests one after another sees the same faults in the
same places on every run.
"""
from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Fault = Literal["error", "throttle", "rate_limited", "reset_after_create", "reset_after_update", "slow_update"]


@dataclass
class Faults:
    """Knobs; all off by default.  Rates are per request, 0.0-1.0."""

    seed: int = 0
    # Seconds added before every response.
    latency: float = 0.0
    # Each response's latency varies uniformly by up to this many seconds
    # either way (never below 0), so answers are not all equally slow.
    latency_jitter: float = 0.0
    # Random 500/502/503/504, decided before the request is processed.
    error_rate: float = 0.0
    # Random 429 (as if another client used up the account's budget).
    throttle_rate: float = 0.0
    # A ticket POST that creates a ticket: commit it, then drop the
    # connection (TCP RST) without answering.
    reset_after_create_rate: float = 0.0
    # The same for a PUT that adds a comment (tickets or requests API).
    reset_after_update_rate: float = 0.0
    # A PUT that updates a ticket is held `slow_update_seconds` before it is
    # processed, then processed anyway: set it past the client's timeout and
    # the write lands after the client gave up.  The next `slow_updates`
    # update PUTs are slow, and each one at `slow_update_rate` after those.
    slow_update_seconds: float = 0.0
    slow_updates: int = 0
    slow_update_rate: float = 0.0
    # A real rate limit: at most `rate_limit` requests per `rate_window`
    # seconds, then 429 with Retry-After until the window ends.  0 = off.
    rate_limit: int = 0
    rate_window: float = 60.0
    # Retry-After sent with random 429s.
    retry_after: int = 1


@dataclass
class FaultPlan:
    """Decides, request by request, which fault (if any) to inject."""

    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        # Apart from _rng, so jitter does not shift where the other faults fall.
        self._jitter_rng = random.Random(self.faults.seed + 1)
        self._window_start = self.clock()
        self._window_count = 0
        self._slow_left: int | None = None

    def latency(self) -> float:
        """Seconds to delay this response: `latency` ± up to `latency_jitter`."""
        with self._lock:
            f = self.faults
            if not f.latency_jitter:
                return f.latency
            return max(0.0, f.latency + self._jitter_rng.uniform(-f.latency_jitter, f.latency_jitter))

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self._jitter_rng = random.Random(faults.seed + 1)
            self._window_start = self.clock()
            self._window_count = 0
            self._slow_left = None

    def rate_limit_status(self) -> tuple[int, int, int]:
        """(limit, remaining, seconds until the window resets) for X-Rate-Limit headers."""
        with self._lock:
            limit = self.faults.rate_limit or 700
            remaining = max(0, limit - self._window_count) if self.faults.rate_limit else limit - 1
            reset = max(0, math.ceil(self._window_start + self.faults.rate_window - self.clock()))
            return limit, remaining, reset

    def before(self) -> tuple[Fault | None, int]:
        """Fault to answer with instead of processing: (kind, status or Retry-After)."""
        with self._lock:
            f = self.faults
            if f.rate_limit:
                now = self.clock()
                if now - self._window_start >= f.rate_window:
                    self._window_start, self._window_count = now, 0
                self._window_count += 1
                if self._window_count > f.rate_limit:
                    wait = max(1, math.ceil(self._window_start + f.rate_window - now))
                    return "rate_limited", wait
            # Draw every number every time so one knob does not shift the others.
            throttle, error, status = self._rng.random(), self._rng.random(), self._rng.choice((500, 502, 503, 504))
            if throttle < f.throttle_rate:
                return "throttle", f.retry_after
            if error < f.error_rate:
                return "error", status
            return None, 0

    def reset_after_create(self) -> bool:
        with self._lock:
            return self._rng.random() < self.faults.reset_after_create_rate

    def slow_update(self) -> bool:
        with self._lock:
            f = self.faults
            if not f.slow_update_seconds:
                return False
            if self._slow_left is None:
                self._slow_left = f.slow_updates
            if self._slow_left > 0:
                self._slow_left -= 1
                return True
            return bool(f.slow_update_rate) and self._rng.random() < f.slow_update_rate

    def reset_after_update(self) -> bool:
        with self._lock:
            return self._rng.random() < self.faults.reset_after_update_rate
