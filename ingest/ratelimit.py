"""One rate limiter for the whole service: every Zendesk request passes through it.

Zendesk counts requests per account per minute, across every client of the
account (X-Rate-Limit: 700, X-Rate-Limit-Remaining: 699; `ratelimit-limit`,
`ratelimit-remaining`, `ratelimit-reset` on the ticketing APIs), and answers
429 with Retry-After past the limit.  All workers share one `AccountLimiter`:

- Pacing: pyrate-limiter's GCRA with burst 1 spreads requests evenly at
  `share` of the account's limit, so no 60 s window holds more than the limit
  and the drain runs at the limit rather than in bursts followed by 429s.  The
  limit is `zendesk.rate_limit_per_minute`, or, when unset, the first
  X-Rate-Limit / ratelimit-limit header (then re-learned when it changes).
- Feedback: Zendesk's remaining count (less the requests already on their way)
  is what other clients of the account have left us.  At the reserve, every
  worker waits for `ratelimit-reset` (or probes once a second when the answer
  had no reset header): we back off before the 429, not after.
- A 429 pauses every worker for its Retry-After, not only the one that got it.

`TicketLimiter` keeps comment bursts into one ticket under Zendesk's "30
updates per 10 minutes per user per ticket" on the Update Ticket endpoint.  It
is a plain sliding log per ticket id: pyrate-limiter would need a bucket per
ticket and a factory to route them, for the same 20 lines.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from pyrate_limiter import GCRA, Duration, Limiter, Rate, StateBucket

from ingest import metrics

log = logging.getLogger(__name__)

# Zendesk's account windows are a minute long.
WINDOW_SECONDS = 60.0
# With no ratelimit-reset in the answer, look again this often once the
# remaining count is spent (one request probes what the window has left).
PROBE_SECONDS = 1.0
# Zendesk's per-ticket update limit (Update Ticket endpoint).
TICKET_UPDATES = 30
TICKET_WINDOW_SECONDS = 600.0


def _header_int(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        try:
            return int(float(value))
        except ValueError:
            continue
    return None


class AccountLimiter:
    """Paces requests to one Zendesk account; thread-safe, one per process.

    Call `acquire()` before a request and `observe(status, headers, retry_after)`
    with its answer, or `abandon()` when no answer came (connection error).
    """

    def __init__(
        self,
        per_minute: int | None = None,
        *,
        share: float = 0.98,
        reserve: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.configured = per_minute
        self.share = share
        self.reserve = reserve
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._pacer: Limiter | None = None
        self._pause_until = 0.0
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._in_flight = 0
        # For reports and tests: requests let through, time spent waiting.
        self.requests = 0
        self.paused_seconds = 0.0
        if per_minute:
            self._set_limit(per_minute)

    @property
    def limit(self) -> int | None:
        """The account's requests per minute as configured or last announced."""
        return self._limit

    def _set_limit(self, per_minute: int) -> None:
        paced = max(1, int(per_minute * self.share))
        bucket = StateBucket([Rate(paced, Duration.MINUTE, burst=1)], algorithm=GCRA())
        self._limit, self._pacer = per_minute, Limiter(bucket, buffer_ms=1)
        log.info("zendesk: pacing requests at %d/min (account limit %d/min)", paced, per_minute)

    def acquire(self) -> None:
        """Blocks until this request may go: no 429 pause, budget left, and its pacing slot."""
        while True:
            with self._lock:
                now = self.clock()
                wait = self._pause_until - now
                if wait <= 0 and self._remaining is not None and self._remaining <= self.reserve:
                    if self._reset_at is None or self._reset_at <= now:
                        # The window has (or may have) turned: one request finds out.
                        self._remaining = None
                        self._reset_at = now + PROBE_SECONDS
                    else:
                        wait = self._reset_at - now
                if wait <= 0:
                    self._in_flight += 1
                    if self._remaining is not None:
                        self._remaining -= 1
                    pacer = self._pacer
                    break
            self.paused_seconds += min(wait, 0.5)
            metrics.ZENDESK_PACING_WAIT.inc(min(wait, 0.5))
            self.sleep(min(wait, 0.5))
        if pacer is not None:
            started = self.clock()
            pacer.try_acquire("zendesk")
            waited = max(0.0, self.clock() - started)
            self.paused_seconds += waited
            metrics.ZENDESK_PACING_WAIT.inc(waited)
        self.requests += 1

    def abandon(self) -> None:
        """The request got no answer (connection error): it no longer counts as in flight."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def observe(self, status: int, headers: Mapping[str, str], retry_after: float | None = None) -> None:
        """Learns from one answer: the limit, what is left of the window, a 429's pause."""
        lowered = {k.lower(): v for k, v in headers.items()}
        limit = _header_int(lowered, "ratelimit-limit", "x-rate-limit")
        remaining = _header_int(lowered, "ratelimit-remaining", "x-rate-limit-remaining")
        reset = _header_int(lowered, "ratelimit-reset")
        with self._lock:
            now = self.clock()
            self._in_flight = max(0, self._in_flight - 1)
            if limit and not self.configured and limit != self._limit:
                self._set_limit(limit)
            if remaining is not None:
                # Requests still on their way are not in Zendesk's count yet.
                self._remaining = remaining - self._in_flight
                # No reset header (most endpoints): look again in a second.
                self._reset_at = now + (reset if reset is not None else PROBE_SECONDS)
                if self._remaining <= self.reserve:
                    log.info("zendesk: %s requests left in this window; waiting %s", remaining,
                             f"{reset}s for the reset" if reset is not None else "for the next window")
            if status == 429:
                pause = retry_after if retry_after is not None else PROBE_SECONDS
                if now + pause > self._pause_until:
                    self._pause_until = now + pause
                    log.warning("zendesk: 429 rate limited; every worker pauses %.1fs", pause)


class TicketLimiter:
    """At most `updates` per `window` seconds into any one ticket; thread-safe."""

    def __init__(
        self,
        updates: int = TICKET_UPDATES,
        window: float = TICKET_WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.updates, self.window, self.clock = updates, window, clock
        self._lock = threading.Lock()
        self._log: dict[int, deque[float]] = {}

    def reserve(self, ticket_id: int) -> float:
        """Takes a slot for one update now and returns 0, or returns the seconds until one frees.

        Nothing is taken when the answer is not 0: the caller waits and asks again.
        """
        with self._lock:
            now = self.clock()
            times = self._log.setdefault(ticket_id, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.updates:
                return times[0] + self.window - now
            times.append(now)
            if len(self._log) > 10_000:  # tickets nobody wrote to in a window
                for tid in [t for t, q in self._log.items() if not q or q[-1] <= now - self.window]:
                    del self._log[tid]
            return 0.0


__all__ = ["AccountLimiter", "TicketLimiter"]
