"""The part every OAuth provider shares: keep one token, renew it before it expires.

A token is renewed once `now >= expires_at - margin`, where the margin is
`imap.token_refresh_margin_seconds` but never more than half the token's
lifetime (a 5-second test token is renewed after 2.5 s, a one-hour one five
minutes before its end).  The IMAP source calls `token()` at each login and
`renew_if_due()` while it waits in IDLE, so a fresh token is ready when the
connection is next opened.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal

from ingest.errors import AuthError, TokenUnavailable

log = logging.getLogger("ingest.auth")


class RenewingProvider:
    kind = "oauth2"
    mechanism: Literal["LOGIN", "XOAUTH2"] = "XOAUTH2"

    def __init__(self, *, margin: float, clock: Callable[[], float] = time.time) -> None:
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._obtained_at = 0.0
        self._expires_at: float | None = None
        # How many tokens the identity provider issued us (for tests and `check`).
        self.renewals = 0

    # -- what subclasses implement ------------------------------------------

    def _fetch(self) -> tuple[str, float]:
        """A new (access token, lifetime in seconds); raises AuthError or TokenUnavailable."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    # -- the protocol ---------------------------------------------------------

    @property
    def expires_at(self) -> float | None:
        return self._expires_at

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._due():
                self._renew()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._expires_at = None

    def renew_if_due(self) -> None:
        with self._lock:
            if self._token is not None and self._due():
                self._renew()

    # -- internals -------------------------------------------------------------

    def _due(self) -> bool:
        if self._expires_at is None:
            return True
        lifetime = self._expires_at - self._obtained_at
        return self._clock() >= self._expires_at - min(self._margin, lifetime / 2)

    def _renew(self) -> None:
        started = self._clock()
        try:
            token, lifetime = self._fetch()
        except (AuthError, TokenUnavailable):
            raise
        if not token or lifetime <= 0:
            raise TokenUnavailable(f"{self.describe()}: the identity provider answered without a usable token")
        self._token = token
        self._obtained_at = started
        self._expires_at = started + lifetime
        self.renewals += 1
        log.info("%s: new access token, valid for %.0fs (until %s)", self.describe(), lifetime,
                 datetime.fromtimestamp(self._expires_at, timezone.utc).strftime("%H:%M:%SZ"))
