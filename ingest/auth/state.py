"""The auth-failure state: which service refused our credentials, since when, and the log line for it.

The run loop keeps one `AuthState`.  A refusal (the mailbox, its identity
provider, or Zendesk answering 401/403) is not an outage: waiting does not fix
it, and retrying fast only gets the client throttled or locked.  So:
- the first refusal is logged once at ERROR, naming who was refused and the
  provider's code; the same refusal again is repeated at ERROR at most every
  `repeat_seconds`, so it is never a silent retry, nor a flood;
- the loop backs off from `first_backoff` doubling to `max_backoff`, one
  login attempt per step;
- `failing()` answers readiness and `check`; `ok()` logs the recovery.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("ingest.auth")


@dataclass
class Refusal:
    service: str  # "imap" | "zendesk"
    reason: str
    code: str
    since: float
    attempts: int = 1
    logged_at: float = 0.0


class AuthState:
    def __init__(
        self,
        *,
        first_backoff: float = 2.0,
        max_backoff: float = 300.0,
        repeat_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        on_refusal: Callable[[str], None] = lambda service: None,
    ) -> None:
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.repeat_seconds = repeat_seconds
        self._clock = clock
        self._on_refusal = on_refusal
        self.refusals: dict[str, Refusal] = {}

    def failed(self, service: str, exc: BaseException, backoff: float) -> float:
        """Records a refusal; returns the next backoff (at least first_backoff, doubled, capped)."""
        now = self._clock()
        reason, code = str(exc), str(getattr(exc, "code", "") or getattr(exc, "status", "") or "")
        self._on_refusal(service)
        nxt = min(self.max_backoff, max(self.first_backoff, backoff * 2))
        known = self.refusals.get(service)
        # The same refusal: same code (the text may carry a fresh trace id).
        if known is not None and (known.code, known.reason if not known.code else "") == (code, reason if not code else ""):
            known.attempts += 1
            known.reason = reason
            if now - known.logged_at >= self.repeat_seconds:
                known.logged_at = now
                log.error("%s credentials still refused (%d attempts since %.0fs ago): %s; next try in %.0fs",
                          service, known.attempts, now - known.since, reason, nxt)
            else:
                log.debug("%s credentials refused again (attempt %d); next try in %.0fs", service, known.attempts, nxt)
            return nxt
        self.refusals[service] = Refusal(service, reason, code, since=now, logged_at=now,
                                         attempts=known.attempts + 1 if known else 1)
        log.error("%s credentials refused: %s; fix them (docs/MAILBOXES.md); retrying with backoff, next in %.0fs",
                  service, reason, nxt)
        return nxt

    def ok(self, service: str) -> None:
        known = self.refusals.pop(service, None)
        if known is not None:
            log.info("%s credentials accepted again after %d refused attempts", service, known.attempts)

    def failing(self) -> list[Refusal]:
        return list(self.refusals.values())
