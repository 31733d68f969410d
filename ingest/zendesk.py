"""Zendesk HTTP client: one `requests.Session`, our own retries, idempotency.

Retries, within one time budget per operation (`[zendesk] retry_budget_seconds`):

- 429: wait `Retry-After`, then try again.
- 500/502/503/504, timeouts, connection resets: exponential backoff with jitter.
- 400/422 raise `ZendeskRejected` with Zendesk's `details`; 401 (and 403 on
  users/me, which says the credentials themselves are refused) raise
  `ZendeskAuthError`; any other 403 is about one record and raises
  `ZendeskForbidden`; a spent budget raises `ZendeskUnavailable`.
- 409 on a ticket POST (its Idempotency-Key still in flight) is retried; 409
  `UpdateConflict` on a `safe_update` PUT raises `UpdateConflict`: the ticket
  changed since its `updated_at` was read, nothing was applied.

A request that changes something is retried blindly only when that is safe:
the ticket POST always carries its Idempotency-Key (Zendesk answers a repeat
with the stored response, `x-idempotency-lookup: hit`).  Other writes (uploads,
comments) pass `retry_ambiguous=False`: when the server may have acted before
failing (a 5xx, a dropped connection, a read timeout) the caller gets
`AmbiguousFailure` and checks before repeating.  urllib3's own Retry is off for
the same reason: per the requests docs it only knows "no data reached the
server", not what the server did.

Sleeping and the clock are injected so tests control time.
"""
from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ingest import metrics
from ingest.errors import ZendeskAuthError, ZendeskForbidden, ZendeskRejected, ZendeskUnavailable
from ingest.net import is_loopback
from ingest.ratelimit import AccountLimiter, TicketLimiter

if TYPE_CHECKING:
    from ingest.settings import ZendeskSettings

log = logging.getLogger(__name__)

RETRY_STATUSES = {409, 500, 502, 503, 504}
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


@dataclass(frozen=True)
class Retry:
    """Why one try failed in a way that may pass; `retry_after` when Zendesk said how long to wait."""

    reason: str
    retry_after: float | None = None
    # True when the server may have acted on the request before failing.
    ambiguous: bool = False


class AmbiguousFailure(Exception):
    """A write failed after it may have reached Zendesk; check before repeating it."""

    def __init__(self, retry: Retry) -> None:
        super().__init__(retry.reason)
        self.retry = retry


class UpdateConflict(Exception):
    """409 UpdateConflict: a safe_update PUT carried an outdated updated_stamp; nothing changed."""


class _KeyReused(Exception):
    """400 IdempotentRequestError: this Idempotency-Key already made a ticket from another body."""


class Budget:
    """The time one operation may spend waiting between tries."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
        what: str = "",
    ) -> None:
        self.deadline = clock() + seconds
        self.seconds = seconds
        self.clock, self.sleep, self.rng, self.what = clock, sleep, rng, what
        self.failures = 0

    def wait(self, retry: Retry) -> None:
        """Sleeps before the next try, or raises ZendeskUnavailable when that would overrun the budget."""
        self.failures += 1
        if retry.retry_after is not None:
            delay = retry.retry_after
        else:
            # Exponential backoff with "equal jitter": at least half the step,
            # so clients that failed together do not come back together.
            step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1))
            delay = step / 2 + self.rng.uniform(0, step / 2)
        if self.clock() + delay > self.deadline:
            raise ZendeskUnavailable(
                f"{self.what}: gave up after {self.failures} failed tries within the {self.seconds:g}s retry budget;"
                f" last: {retry.reason}"
            )
        log.info("zendesk: %s: %s; retrying in %.2fs", self.what, retry.reason, delay)
        metrics.ZENDESK_RETRY_WAIT.inc(delay)
        self.sleep(delay)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request surely did not reach the server (refused, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    # requests wraps urllib3's MaxRetryError, whose `reason` is the real error.
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class ZendeskClient:
    """Authenticated calls to one Zendesk account: an OAuth bearer token when
    one is set (it wins), else the API token as basic `{email}/token:{token}`."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str = "",
        api_token: str | None = None,
        oauth_token: str | None = None,
        timeout: float = 30.0,
        retry_budget: float = 300.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        limiter: AccountLimiter | None = None,
        pool_size: int = 4,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
            raise ValueError(f"Zendesk must be reached over https (plain http only on loopback): {base_url}")
        if not oauth_token and not (email and api_token):
            raise ValueError("Zendesk credentials missing: set zendesk.email + api_token, or oauth_token")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_budget = retry_budget
        self.sleep, self.clock = sleep, clock
        self.rng = rng or random.Random()
        # Shared by every worker: the account's limit is one budget (ingest/ratelimit.py).
        self.limiter = limiter or AccountLimiter()
        self.ticket_updates = TicketLimiter(clock=clock)
        self.session = session or requests.Session()
        # We retry ourselves (see the module docstring), so the adapter must not.
        # One pooled connection per worker, so concurrent requests reuse theirs.
        adapter = HTTPAdapter(max_retries=0, pool_maxsize=max(4, pool_size))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "bso-ingest"})
        self.uses_oauth = bool(oauth_token)
        if oauth_token:
            self.session.headers["Authorization"] = f"Bearer {oauth_token}"
        else:
            self.session.auth = (f"{email}/token", api_token or "")

    @classmethod
    def from_settings(cls, zs: "ZendeskSettings", **kwargs: Any) -> "ZendeskClient":
        return cls(
            zs.url,
            email=zs.email,
            api_token=zs.api_token.get_secret_value() if zs.api_token else None,
            oauth_token=zs.oauth_token.get_secret_value() if zs.oauth_token else None,
            timeout=zs.timeout_seconds,
            retry_budget=zs.retry_budget_seconds,
            **{"limiter": AccountLimiter(zs.rate_limit_per_minute, share=zs.rate_limit_share), **kwargs},
        )

    def budget(self, what: str, seconds: float | None = None) -> Budget:
        """A retry budget of `[zendesk] retry_budget_seconds`, or `seconds` (0: a single try)."""
        limit = self.retry_budget if seconds is None else seconds
        return Budget(limit, clock=self.clock, sleep=self.sleep, rng=self.rng, what=what)

    # -- the retry loop -----------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        budget: Budget,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        retry_ambiguous: bool = True,
    ) -> dict[str, Any] | None:
        """The JSON answer, or None for 404.  See the module docstring for what is retried."""
        while True:
            try:
                return self._attempt(method, path, params=params, json=json, data=data, headers=headers)
            except _RetryError as exc:
                if exc.retry.ambiguous and not retry_ambiguous:
                    raise AmbiguousFailure(exc.retry) from None
                budget.wait(exc.retry)

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        json: Any,
        data: bytes | None,
        headers: dict[str, str] | None,
    ) -> dict[str, Any] | None:
        what = f"{method} {path}"
        endpoint = endpoint_template(method, path)
        self.limiter.acquire()
        try:
            resp = self.session.request(method, self.base_url + path, params=params, json=json, data=data,
                                        headers=headers, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            metrics.ZENDESK_REQUESTS.labels(endpoint=endpoint, status="error").inc()
            self.limiter.abandon()
            raise _RetryError(Retry(f"{what}: {type(exc).__name__}", ambiguous=not _never_sent(exc))) from None
        except BaseException:
            self.limiter.abandon()
            raise
        status = resp.status_code
        metrics.ZENDESK_REQUESTS.labels(endpoint=endpoint, status=str(status)).inc()
        if status == 429:
            metrics.ZENDESK_RATE_LIMITED.inc()
        self.limiter.observe(status, resp.headers,
                             _retry_after(resp.headers.get("Retry-After")) if status == 429 else None)
        log.debug("zendesk: %s -> %s", what, status)
        if 200 <= status < 300:
            return resp.json() if resp.content else {}
        body = _json_or_text(resp)
        if status == 404:
            return None
        if status == 429:
            raise _RetryError(Retry(f"{what}: 429 rate limited", _retry_after(resp.headers.get("Retry-After"))))
        if status == 409 and (method == "PUT" or (isinstance(body, dict) and body.get("error") == "UpdateConflict")):
            # An update refused as a collision (safe_update): nothing was
            # applied.  Only the ticket POST's 409 (its Idempotency-Key in
            # flight) is worth repeating as is.
            raise UpdateConflict(f"{what}: 409 {_describe(body)}")
        if status in RETRY_STATUSES:
            # A 409 means a request with the same Idempotency-Key is still in flight.
            raise _RetryError(Retry(f"{what}: {status}", _retry_after(resp.headers.get("Retry-After")),
                                    ambiguous=status != 409))
        if status == 401 or (status == 403 and path.startswith("/api/v2/users/me")):
            raise ZendeskAuthError(f"{what}: {status} {_describe(body)} (check [zendesk] credentials)", status, body)
        if status == 403:
            raise ZendeskForbidden(f"{what}: 403 {_describe(body)}", status, body)
        if status == 400 and isinstance(body, dict) and body.get("error") == "IdempotentRequestError":
            raise _KeyReused(_describe(body))
        details = body.get("details", body) if isinstance(body, dict) else body
        raise ZendeskRejected(f"{what}: {status} {_describe(body)}", status, details)

    # -- operations -----------------------------------------------------------
    def create_ticket(self, payload: dict[str, Any], idempotency_key: str, budget: Budget) -> dict[str, Any]:
        """POSTs the ticket; every retry carries the same Idempotency-Key and body.

        If Zendesk says the key already made a ticket from another body (ours
        changed since, e.g. a new upload token after a restart), that ticket is
        the one: it is found by external_id."""
        try:
            answer = self.request("POST", "/api/v2/tickets.json", budget, json=payload,
                                  headers={"Idempotency-Key": idempotency_key})
        except _KeyReused as exc:
            found = self.find_ticket_by_external_id(payload["ticket"]["external_id"], budget)
            if found is None:
                raise ZendeskRejected(f"Idempotency-Key {idempotency_key} reused but no ticket has its external_id: "
                                      f"{exc}", 400) from None
            return found
        if answer is None:
            raise ZendeskRejected("POST /api/v2/tickets.json: 404", 404)
        return answer["ticket"]

    def find_ticket_by_external_id(self, external_id: str, budget: Budget) -> dict[str, Any] | None:
        """The oldest ticket with this external_id, or None."""
        answer = self.request("GET", "/api/v2/tickets.json", budget, params={"external_id": external_id})
        tickets = (answer or {}).get("tickets") or []
        return min(tickets, key=lambda t: t["id"]) if tickets else None

    def show_ticket(self, ticket_id: int, budget: Budget) -> tuple[dict[str, Any], dict[int, dict[str, Any]]] | None:
        """(ticket, users by id sideloaded), or None when it does not exist."""
        answer = self.request("GET", f"/api/v2/tickets/{ticket_id}.json", budget, params={"include": "users"})
        if answer is None:
            return None
        return answer["ticket"], {u["id"]: u for u in answer.get("users", [])}

    def upload_files(
        self, files: list[tuple[str, str, bytes]], budget: Budget
    ) -> tuple[str | None, list[tuple[str, str]]]:
        """Uploads (filename, content_type, bytes) under one token (`&token=`).

        Returns the token (None when nothing was uploaded) and the files
        Zendesk refused (filename, why), e.g. a type the account does not
        allow: the ticket is still made, with a note, rather than lost.
        An upload that may have landed before failing would sit twice under
        the token, so the chain starts over with a fresh token instead; the
        abandoned uploads expire unused."""
        while True:
            token: str | None = None
            refused: list[tuple[str, str]] = []
            try:
                for filename, content_type, content in files:
                    params = {"filename": filename, **({"token": token} if token else {})}
                    try:
                        answer = self.request("POST", "/api/v2/uploads.json", budget, params=params, data=content,
                                              headers={"Content-Type": content_type}, retry_ambiguous=False)
                    except ZendeskRejected as exc:
                        refused.append((filename, f"Zendesk refused the upload: {exc.status} {exc.details}"))
                        continue
                    if answer is None:
                        raise ZendeskRejected("POST /api/v2/uploads.json: 404", 404)
                    token = answer["upload"]["token"]
                return token, refused
            except AmbiguousFailure as exc:
                budget.wait(exc.retry)

    def put(self, path: str, payload: dict[str, Any], budget: Budget, headers: dict[str, str] | None = None) -> dict[
            str, Any] | None:
        """One PUT; raises AmbiguousFailure rather than repeating a write that may have landed."""
        return self.request("PUT", path, budget, json=payload, headers=headers, retry_ambiguous=False)

    def audits(self, ticket_id: int, budget: Budget, *, max_pages: int = 20) -> Iterator[dict[str, Any]]:
        """A ticket's audits, newest first when Zendesk sorts as asked, page after page.

        Stops after `max_pages` pages (100 audits each); nothing when the
        ticket is gone.  Follows both pagination styles Zendesk answers with:
        `next_page` (offset) and `links.next` with `meta.has_more` (cursor)."""
        page: tuple[str, dict[str, str]] | None = (f"/api/v2/tickets/{ticket_id}/audits.json",
                                                   {"sort_order": "desc"})
        for _ in range(max_pages):
            if page is None:
                return
            answer = self.request("GET", page[0], budget, params=page[1])
            if answer is None:
                return
            yield from answer.get("audits", [])
            following = answer.get("next_page") or (
                (answer.get("links") or {}).get("next") if (answer.get("meta") or {}).get("has_more") else None)
            page = self._relative(following)

    def _relative(self, url: Any) -> tuple[str, dict[str, str]] | None:
        """A next-page URL as (path, query) on our account; None for none or another host's."""
        if not isinstance(url, str) or not url:
            return None
        parts = urlsplit(url)
        ours = urlsplit(self.base_url)
        if parts.netloc and (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
            return None
        if not parts.path.startswith("/api/"):
            return None
        return parts.path, dict(parse_qsl(parts.query))

    def comments(self, ticket_id: int, budget: Budget) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        """(comments, users by id) of a ticket, newest last."""
        answer = self.request("GET", f"/api/v2/tickets/{ticket_id}/comments.json", budget,
                              params={"include": "users"}) or {}
        return answer.get("comments", []), {u["id"]: u for u in answer.get("users", [])}

    def user_id(self, address: str, name: str, budget: Budget) -> int:
        """The id of the user with this address, creating the user when unknown."""
        found = (self.request("GET", "/api/v2/users/search.json", budget, params={"query": f"email:{address}"})
                 or {}).get("users") or []
        if found:
            return int(found[0]["id"])
        user = {"email": address, **({"name": name} if name else {})}
        try:
            created = self.request("POST", "/api/v2/users.json", budget, json={"user": user}, retry_ambiguous=False)
        except AmbiguousFailure as exc:
            budget.wait(exc.retry)
            return self.user_id(address, name, budget)
        return int((created or {})["user"]["id"])


class _RetryError(Exception):
    def __init__(self, retry: Retry) -> None:
        super().__init__(retry.reason)
        self.retry = retry


_NUMERIC = re.compile(r"/\d+(?=/|$)")


def endpoint_template(method: str, path: str) -> str:
    """'PUT /api/v2/tickets/42.json' -> 'PUT /api/v2/tickets/{id}': a bounded metric label."""
    return f"{method} {_NUMERIC.sub('/{id}', path.removesuffix('.json'))}"


def _json_or_text(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500]


def _describe(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(body.get("error", "")), str(body.get("description", ""))]
        return ": ".join(p for p in parts if p) or str(body)[:300]
    return str(body)[:300]
