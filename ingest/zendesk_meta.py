"""The Zendesk account's ticket fields, ticket forms and organizations: fetched,
cached in the ledger database, refreshed on a TTL.

Routing needs the field catalogue (option tags, form conditions) and the
organization directory (domains → code) for every ticket, but they change
rarely.  So they cost a few requests an hour, never one per ticket:

- `GET /api/v2/ticket_fields` and `GET /api/v2/organizations` with cursor
  pagination (`page[size]=100`, then `links.next` while `meta.has_more`);
  `GET /api/v2/ticket_forms`, documented without pagination (at most 300
  forms; an offset `next_page`, if one ever comes, is followed too);
- at start, then whenever the copy is older than `[zendesk]
  metadata_ttl_seconds` (hourly by default): stale-while-revalidate, so tickets
  keep using the copy they have while a background thread fetches the new one;
- the JSON is kept in the `zendesk_metadata` table of the ledger database
  (declared in ingest/ledger.py, created by migration 0003), so a restart with
  Zendesk down still routes with the last copy;
- a failed refresh keeps the old copy and tries again after a pause (doubling
  up to the TTL), logging why.

A dry run never fetches: it uses `[zendesk] metadata_seed` (the demo ships the
portal's form, ingest/demo/portal-form.json) so the printed payload is real.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ingest import metrics
from ingest.errors import ZendeskRejected
from ingest.ledger import zendesk_metadata
from ingest.zendesk import Budget, ZendeskClient
from routing.account import Account

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger(__name__)

# How long one metadata fetch may keep retrying: short, since a ticket may wait behind it at start.
FETCH_BUDGET_SECONDS = 30.0
MAX_PAGES = 500
RETRY_FIRST_SECONDS = 60.0
CACHE_KEY = "account"

Fetch = Callable[[], dict[str, Any]]


def fetch_account(client: ZendeskClient) -> dict[str, Any]:
    """The account's fields, forms and organizations (a few requests: one per page)."""
    budget = Budget(min(FETCH_BUDGET_SECONDS, client.retry_budget), clock=client.clock, sleep=client.sleep,
                    rng=client.rng, what="read ticket fields, forms and organizations")
    return {
        "ticket_fields": _all_pages(client, "/api/v2/ticket_fields.json", "ticket_fields", budget, cursor=True),
        # An account without ticket forms (a plan without them) or whose API user may not
        # list organizations still gets its fields mapped; an outage fails the whole refresh.
        "ticket_forms": _optional(client, "/api/v2/ticket_forms.json", "ticket_forms", budget, cursor=False),
        "organizations": _optional(client, "/api/v2/organizations.json", "organizations", budget, cursor=True),
    }


def _optional(client: ZendeskClient, path: str, name: str, budget: Budget, *, cursor: bool) -> list[dict[str, Any]]:
    try:
        return _all_pages(client, path, name, budget, cursor=cursor)
    except ZendeskRejected as exc:  # 404 no such endpoint, 403 ZendeskForbidden
        log.warning("zendesk metadata: %s refused (%s); going on without %s", path, exc, name.replace("_", " "))
        return []


def _all_pages(client: ZendeskClient, path: str, name: str, budget: Budget, *, cursor: bool) -> list[dict[str, Any]]:
    params: dict[str, str] | None = {"page[size]": "100"} if cursor else None
    items: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        answer = client.request("GET", path, budget, params=params)
        if answer is None:
            raise ZendeskRejected(f"GET {path}: 404", 404)
        items += answer.get(name) or []
        meta, links = answer.get("meta") or {}, answer.get("links") or {}
        following = links.get("next") if meta.get("has_more") else answer.get("next_page")
        if not following:
            return items
        parts = urlsplit(following)
        path, params = parts.path, dict(parse_qsl(parts.query))
    raise ZendeskRejected(f"GET {path}: more than {MAX_PAGES} pages", None)


def read_seed(ref: str) -> dict[str, Any] | None:
    """`[zendesk] metadata_seed`: "demo" (the packaged portal form), a path, or "" (none)."""
    if not ref:
        return None
    if ref == "demo":
        text = resources.files("ingest").joinpath("demo/portal-form.json").read_text(encoding="utf-8")
    else:
        text = Path(ref).expanduser().read_text(encoding="utf-8")
    data = json.loads(text)
    return data if isinstance(data, dict) else None


def offline_account(settings: "Settings") -> Account | None:
    """For `bso-ingest route` and `check`: the cached copy when the ledger has one
    (nothing is created), else the configured seed, else None.  No requests."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    url = make_url(settings.ledger.url)
    database = url.database or ""
    exists = url.get_backend_name() != "sqlite" or (database not in ("", ":memory:") and Path(database).exists())
    if exists and not settings.service.dry_run:
        engine = create_engine(url)
        try:
            if inspect(engine).has_table("zendesk_metadata"):
                with engine.connect() as conn:
                    row = conn.execute(select(zendesk_metadata.c.body).where(zendesk_metadata.c.name == CACHE_KEY)
                                       ).first()
                if row is not None:
                    return Account.from_api(json.loads(row.body), settings.routing.directory.code_from)
        except SQLAlchemyError as exc:
            log.warning("zendesk metadata: cannot read the cache: %s", exc)
        finally:
            engine.dispose()
    seed = read_seed(settings.zendesk.metadata_seed)
    return Account.from_api(seed, settings.routing.directory.code_from) if seed is not None else None


class AccountMetadata:
    """The current `Account` snapshot for routing; see the module docstring."""

    def __init__(
        self,
        *,
        fetch: Fetch | None = None,
        engine: Engine | None = None,
        ttl: float = 3600.0,
        code_from: str = "codigo_cliente",
        seed: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self.fetch, self.engine, self.ttl, self.code_from = fetch, engine, ttl, code_from
        self.clock, self.background = clock, background
        self._lock = threading.Lock()
        self._account: Account | None = None
        self._fetched_at: float | None = None
        self._next_try = 0.0
        self._pause = RETRY_FIRST_SECONDS
        self._thread: threading.Thread | None = None
        self.refreshes = 0
        if engine is not None:
            self._load()
        if self._account is None and seed is not None:
            self._account = Account.from_api(seed, code_from)
            log.info("zendesk metadata: using the offline seed (%d fields)", len(self._account.catalog.fields))

    @classmethod
    def from_settings(cls, settings: "Settings", *, engine: Engine | None, dry_run: bool,
                      client: ZendeskClient | None = None, fetch: bool = True) -> "AccountMetadata":
        """A dry run uses the seed only; otherwise the cache, refreshed through `client`
        (a new one from [zendesk] when None), unless `fetch` is False."""
        zs = settings.zendesk
        seed = read_seed(zs.metadata_seed) if dry_run else None
        fetcher: Fetch | None = None
        if not dry_run and fetch:
            c = client or ZendeskClient.from_settings(zs)
            fetcher = lambda: fetch_account(c)  # noqa: E731
        meta = cls(fetch=fetcher, engine=engine, ttl=zs.metadata_ttl_seconds,
                   code_from=settings.routing.directory.code_from, seed=seed)
        meta.start()
        return meta

    # -- what the pipeline calls ------------------------------------------------
    def start(self) -> None:
        """At start: fetch in the background, so the service is up (and stoppable)
        at once; the first ticket waits for it only when there is no copy at all."""
        self.account(wait=False)

    def account(self, *, wait: bool = True) -> Account | None:
        """The snapshot to route with; starts a refresh when it is stale.

        With no copy at all (first start, empty cache) the caller waits for the
        fetch, bounded by its retry budget: routing without the catalogue
        would send the ticket without its fields."""
        if self.fetch is not None and self._stale() and self.clock() >= self._next_try:
            if not self.background:
                self.refresh()
            else:
                with self._lock:
                    running = self._thread is not None and self._thread.is_alive()
                    if not running:
                        self._thread = threading.Thread(target=self.refresh, name="zendesk-metadata", daemon=True)
                        self._thread.start()
        if wait and self._account is None and self._thread is not None:
            self._thread.join(FETCH_BUDGET_SECONDS + 5)
        return self._account

    @property
    def fetched_at(self) -> float | None:
        return self._fetched_at

    def refresh(self) -> bool:
        """Fetch, store and switch to a new copy; False (old copy kept) on failure."""
        assert self.fetch is not None
        try:
            data = self.fetch()
            account = Account.from_api(data, self.code_from)
        except Exception as exc:  # noqa: BLE001 - any failure (Zendesk, a stop, a bad answer) keeps the old copy
            metrics.METADATA_REFRESHES.labels(result="failed").inc()
            self._next_try = self.clock() + self._pause
            log.warning("zendesk metadata: refresh failed, keeping the %s; next try in %.0fs: %s",
                        "cached copy" if self._account is not None else "empty catalogue", self._pause, exc)
            self._pause = min(self._pause * 2, max(self.ttl, RETRY_FIRST_SECONDS))
            return False
        now = self.clock()
        self._account, self._fetched_at = account, now
        self._pause = RETRY_FIRST_SECONDS
        self.refreshes += 1
        metrics.METADATA_REFRESHES.labels(result="ok").inc()
        metrics.METADATA_FETCHED.set(now)
        self._store(data, now)
        log.info("zendesk metadata: %d ticket fields, %d forms, %d organizations",
                 len(account.catalog.fields), len(account.catalog.forms), len(account.directory.organizations))
        return True

    def wait(self, timeout: float = 30.0) -> None:
        """Until a background refresh ends (tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the cache ----------------------------------------------------------------
    def _stale(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.ttl

    def _load(self) -> None:
        assert self.engine is not None
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(zendesk_metadata).where(zendesk_metadata.c.name == CACHE_KEY)).first()
        except SQLAlchemyError as exc:
            log.warning("zendesk metadata: cannot read the cache: %s", exc)
            return
        if row is None:
            return
        try:
            self._account = Account.from_api(json.loads(row.body), self.code_from)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("zendesk metadata: the cached copy is unreadable, ignoring it: %s", exc)
            return
        self._fetched_at = row.fetched_at.timestamp()
        metrics.METADATA_FETCHED.set(self._fetched_at)
        log.info("zendesk metadata: cached copy from %s", row.fetched_at.isoformat())

    def _store(self, data: dict[str, Any], now: float) -> None:
        if self.engine is None:
            return
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        at = datetime.fromtimestamp(now, timezone.utc)
        try:
            with self.engine.begin() as conn:
                done = conn.execute(update(zendesk_metadata).where(zendesk_metadata.c.name == CACHE_KEY)
                                    .values(body=body, fetched_at=at)).rowcount
                if not done:
                    conn.execute(insert(zendesk_metadata).values(name=CACHE_KEY, body=body, fetched_at=at))
        except SQLAlchemyError as exc:
            log.warning("zendesk metadata: cannot write the cache (the copy in memory is used): %s", exc)
