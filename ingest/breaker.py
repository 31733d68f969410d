"""One circuit breaker for Zendesk, for the whole service.

A Zendesk outage is not a message's fault.  When Zendesk does not answer
(connection errors, 5xx, 429 past the retry budget) and a one-shot probe
(`GET /api/v2/users/me`, no retries) confirms it, the pipeline raises
`ZendeskOutage`; the service then *trips* the breaker and stops working
through the inbox.  Messages stay there untouched, their claims are not
counted against `service.max_attempts`.  While the breaker is open the
service only probes, with exponential backoff (`base` doubling up to `cap`);
the first probe Zendesk answers closes it and polling resumes.

States: closed (normal) → open (tripped; `retry_at` says when to probe) →
closed.  There is no separate half-open state: the probe is the half-open
trial, and it never touches a message.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ingest import metrics

log = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, *, base: float = 5.0, cap: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base
        self.cap = max(cap, base)
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.retry_at = 0.0
        self.reason = ""

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def due(self) -> bool:
        """True when an open breaker may probe again."""
        return self.is_open and self.clock() >= self.retry_at

    def remaining(self) -> float:
        return max(0.0, self.retry_at - self.clock()) if self.is_open else 0.0

    def trip(self, reason: str) -> float:
        """Opens (or keeps open) the breaker; returns the seconds until the next probe."""
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        now = self.clock()
        self.retry_at = now + delay
        self.reason = reason
        if self.opened_at is None:
            self.opened_at = now
            metrics.CIRCUIT_OPENED.inc()
            metrics.CIRCUIT_OPEN.set(1)
            log.error("Zendesk unavailable: %s; pausing the inbox (messages stay there, not counted as"
                      " failures); probing again in %.0fs", reason, delay)
        else:
            log.warning("Zendesk still unavailable after %.0fs: %s; probing again in %.0fs",
                        now - self.opened_at, reason, delay)
        return delay

    def close(self) -> None:
        """Zendesk answered: resume."""
        if self.opened_at is not None:
            log.warning("Zendesk answers again after %.0fs unavailable; resuming the inbox",
                        self.clock() - self.opened_at)
        self.failures = 0
        self.opened_at = None
        self.retry_at = 0.0
        self.reason = ""
        metrics.CIRCUIT_OPEN.set(0)
