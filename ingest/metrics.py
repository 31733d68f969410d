"""Every Prometheus metric the service exports, defined in this one place.

Call sites import the metric objects and update them (`metrics.MESSAGES.labels(
outcome="created").inc()`); `/metrics` (ingest/http.py) serves `REGISTRY`.
The metrics live in a registry of their own, not prometheus-client's global
one, so importing the package in a test or a CLI command never collides with
another library's metrics, and `render()` shows exactly what docs/OPERATIONS.md
documents.  Process metrics (RSS, CPU, open files) are added to it as well.

Label values are closed sets chosen by code (an outcome kind, an endpoint
template, a reason *kind*): never a Message-ID, an address or a subject, so
neither customer data nor unbounded series reach Prometheus.

Adding a metric: define it here, with a `bso_ingest_` name and a help text,
and add a row to the table in docs/OPERATIONS.md (a test checks both).
"""
from __future__ import annotations

import re

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

OUTCOMES = ("created", "commented", "skipped", "quarantined", "deferred")

# -- messages ------------------------------------------------------------------

MESSAGES = Counter(
    "bso_ingest_messages", "Messages by final or deferred outcome.", ["outcome"], registry=REGISTRY
)
SKIPS = Counter(
    "bso_ingest_skips", "Skipped messages by reason kind (automated, rate, ...).", ["reason"], registry=REGISTRY
)
SENDER_AUTH = Counter(
    "bso_ingest_sender_auth",
    "Decided messages by sender-authentication outcome (pass, fail, none, missing) and the policy applied.",
    ["outcome", "policy"],
    registry=REGISTRY,
)
PICKUP_LATENCY = Histogram(
    "bso_ingest_pickup_latency_seconds",
    "Time from the message's arrival in the inbox (IMAP INTERNALDATE) to its outcome.",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY,
)

# -- inbox and ledger ----------------------------------------------------------

INBOX_BACKLOG = Gauge(
    "bso_ingest_inbox_backlog", "Messages in the inbox folder at the last poll.", registry=REGISTRY
)
INBOX_OLDEST_AGE = Gauge(
    "bso_ingest_inbox_oldest_age_seconds",
    "Age of the oldest message still in the inbox at the last poll (0 when empty).",
    registry=REGISTRY,
)
QUARANTINE_SIZE = Gauge(
    "bso_ingest_quarantine_size", "Messages quarantined in the ledger and not replayed.", registry=REGISTRY
)
LEDGER_ERRORS = Counter(
    "bso_ingest_ledger_errors", "Ledger operations that failed (database unreachable, file gone).", registry=REGISTRY
)

CLAIMS_BUSY = Counter(
    "bso_ingest_claims_busy",
    "Messages left alone because another process or worker holds their claim's lease.",
    registry=REGISTRY,
)
LEASES_TAKEN_OVER = Counter(
    "bso_ingest_leases_taken_over",
    "Unfinished claims taken over from an owner whose lease expired or whose process died.",
    registry=REGISTRY,
)
MESSAGE_ID_COLLISIONS = Counter(
    "bso_ingest_message_id_collisions",
    "New messages whose Message-ID an earlier message with other content already had.",
    registry=REGISTRY,
)

# -- replies -------------------------------------------------------------------

REPLY_FALLBACKS = Counter(
    "bso_ingest_reply_fallbacks",
    "Replies that did not become a comment on the ticket they named, by why.",
    ["why"],
    registry=REGISTRY,
)
COMMENT_CONFLICTS = Counter(
    "bso_ingest_comment_conflicts",
    "Comment updates Zendesk refused with 409 (the ticket changed since its stamp was read).",
    registry=REGISTRY,
)

# -- Zendesk -------------------------------------------------------------------

ZENDESK_REQUESTS = Counter(
    "bso_ingest_zendesk_requests",
    "Zendesk API requests by endpoint template and HTTP status ('error' when no answer came).",
    ["endpoint", "status"],
    registry=REGISTRY,
)
ZENDESK_RATE_LIMITED = Counter(
    "bso_ingest_zendesk_rate_limited", "Zendesk answers with HTTP 429.", registry=REGISTRY
)
ZENDESK_RETRY_WAIT = Counter(
    "bso_ingest_zendesk_retry_wait_seconds",
    "Seconds spent waiting before retrying Zendesk (Retry-After and backoff).",
    registry=REGISTRY,
)
ZENDESK_PACING_WAIT = Counter(
    "bso_ingest_zendesk_pacing_wait_seconds",
    "Seconds workers waited on the shared Zendesk rate limiter (pacing, a spent window, a 429 pause).",
    registry=REGISTRY,
)
METADATA_REFRESHES = Counter(
    "bso_ingest_zendesk_metadata_refreshes",
    "Reads of the account's ticket fields, forms and organizations, by result (ok, failed).",
    ["result"],
    registry=REGISTRY,
)
METADATA_FETCHED = Gauge(
    "bso_ingest_zendesk_metadata_fetched_timestamp_seconds",
    "Unix time the field catalogue in use was read from Zendesk.",
    registry=REGISTRY,
)
UNMATCHED_FIELDS = Counter(
    "bso_ingest_unmatched_fields",
    "Portal values on new tickets that no Zendesk field option took, by portal field.",
    ["field"],
    registry=REGISTRY,
)
MESSAGES_IN_FLIGHT = Gauge(
    "bso_ingest_messages_in_flight", "Messages being processed by workers right now.", registry=REGISTRY
)
CIRCUIT_OPEN = Gauge(
    "bso_ingest_zendesk_circuit_open",
    "1 while the Zendesk circuit breaker is open (Zendesk unavailable; inbox work paused).",
    registry=REGISTRY,
)
CIRCUIT_OPENED = Counter(
    "bso_ingest_zendesk_circuit_opened", "Times the Zendesk circuit breaker opened.", registry=REGISTRY
)

# -- IMAP and the loop ---------------------------------------------------------

IMAP_RECONNECTS = Counter(
    "bso_ingest_imap_reconnects", "Mailbox connections opened again after a failure.", registry=REGISTRY
)
AUTH_FAILURES = Counter(
    "bso_ingest_auth_failures",
    "Credentials refused, by service (imap, zendesk).",
    ["service"],
    registry=REGISTRY,
)
LAST_POLL = Gauge(
    "bso_ingest_last_successful_poll_timestamp_seconds",
    "Unix time of the last poll that read the inbox to the end.",
    registry=REGISTRY,
)
UP = Gauge("bso_ingest_ready", "1 while /readyz answers ready.", registry=REGISTRY)
BUILD_INFO = Info("bso_ingest_build", "The running version.", registry=REGISTRY)

for _service in ("imap", "zendesk"):
    AUTH_FAILURES.labels(service=_service)
for _outcome in OUTCOMES:
    MESSAGES.labels(outcome=_outcome)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bso-ingest")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


VERSION = _version()
BUILD_INFO.info({"version": VERSION})


_KIND = re.compile(r"([a-z][a-z_]*)(?: \(([a-z][a-z_]*)\))?")


def reason_kind(reason: str) -> str:
    """The kind of a skip reason: 'automated (bounce): ...' -> 'automated_bounce', 'loop: ...' -> 'loop'.

    A label value must come from a small set; the full reason stays in the log
    and the ledger.
    """
    match = _KIND.match((reason or "").strip().lower())
    if not match:
        return "other"
    return "_".join(part for part in match.groups() if part)[:40]


def observe_outcome(kind: str, reason: str = "") -> None:
    """Counts one outcome (and the skip's reason kind)."""
    MESSAGES.labels(outcome=kind).inc()
    if kind == "skipped":
        SKIPS.labels(reason=reason_kind(reason)).inc()


def render() -> tuple[bytes, str]:
    """The exposition text of every metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def value(name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one sample (0 when absent); for tests and `check`."""
    found = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if found is None else float(found)
