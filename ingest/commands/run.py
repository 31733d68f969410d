"""`bso-ingest run [--once]`: the ingestion service.

Without options it runs until SIGTERM/SIGINT: polls the inbox every
`imap.poll_interval_seconds` and waits in IMAP IDLE in between.  `--once`
drains the inbox, prints a summary line and exits.

On embedded defaults (no settings file) it reads a local Maildir demo inbox
(`var/demo-inbox`, seeded with the packaged demo messages) and uses the
dry-run sink, which prints the tickets it would create: no Zendesk or IMAP
account needed.  A dry run only reads the mailbox (see Service.file_mail).

Exit status: 0 done; 2 bad settings; 3 Zendesk refused our credentials;
69 the mailbox, the ledger or Zendesk could not be reached (--once, or at
start), or `--once` left deferred mail in the inbox; 73 the state directory
(var/: lock file, ledger) is not writable; 75 another run holds the lock;
77 the mailbox or its identity provider refused our credentials (--once, or at
start).  Without --once, refused credentials do not end the process: they are
an auth-failure state with backoff (see ingest/auth/state.py).
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from ingest import metrics
from ingest.breaker import CircuitBreaker
from ingest.envcheck import missing_secrets
from ingest.errors import AuthError, IngestError, LockedError, SourceError, StateDirError
from ingest.health import Health, HealthServer, live_seconds_for
from ingest.ledger import Ledger
from ingest.lock import RunLock
from ingest.retention import prune
from ingest.pipeline import build_pipeline
from ingest.service import EXIT_LOCKED, EXIT_MAILBOX_AUTH, EXIT_UNAVAILABLE, Service, default_scheduler
from ingest.settings import Settings
from ingest.sources import build_source, describe
from ingest.stopping import StopFlag

log = logging.getLogger("ingest.run")

EXIT_SETTINGS = 2  # as for every invalid setting
EXIT_CANTCREAT = 73  # sysexits.h: the state directory (lock, ledger) is not writable


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="ingest mail: poll the inbox (IMAP IDLE in between) until stopped",
        description="Turn the inbox's mail into Zendesk tickets, exactly once.",
    )
    p.add_argument("--once", action="store_true", help="drain the inbox, print a summary and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    missing = missing_secrets(settings)
    if missing:
        for line in missing:
            print(f"bso-ingest run: {line}", file=sys.stderr)
        return EXIT_SETTINGS
    lock = RunLock(settings.service.lock_path, f"{describe(settings)} ledger={settings.ledger.url}")
    try:
        lock.acquire()
    except LockedError as exc:
        print(f"bso-ingest run: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except StateDirError as exc:
        print(f"bso-ingest run: {exc}", file=sys.stderr)
        return EXIT_CANTCREAT
    try:
        return _run_locked(settings, once=args.once)
    finally:
        lock.release()


def _retention(settings: Settings, ledger: Ledger) -> Callable[[], None] | None:
    days = settings.ledger.retention_days
    if days is None:
        return None

    def apply() -> None:
        done = prune(ledger, timedelta(days=days), datetime.now(timezone.utc))
        log.info("ledger retention (%d days): %s", days, done.line())

    return apply


def _serve_health(settings: Settings, service: Service) -> HealthServer | None:
    """Starts /healthz, /readyz and /metrics when `[service] http_port` is set."""
    port = settings.service.http_port
    if port is None:
        return None
    health = Health(service, live_seconds=live_seconds_for(settings.imap.poll_interval_seconds,
                                                           settings.zendesk.retry_budget_seconds,
                                                           settings.zendesk.timeout_seconds))
    server = HealthServer(health, settings.service.http_host, port).start()
    log.info("serving /healthz, /readyz and /metrics on http://%s:%d", settings.service.http_host, server.port)
    return server


def _run_locked(settings: Settings, *, once: bool) -> int:
    try:
        source = build_source(settings)
    except SourceError as exc:
        print(f"bso-ingest run: {exc}", file=sys.stderr)
        return EXIT_MAILBOX_AUTH if isinstance(exc, AuthError) else EXIT_UNAVAILABLE
    stop_flag = StopFlag()
    try:
        pipeline = build_pipeline(settings, sleep=stop_flag.sleep)
    except IngestError as exc:
        source.close()
        print(f"bso-ingest run: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    dry = settings.service.dry_run
    service = Service(
        source,
        pipeline,
        poll_interval=settings.imap.poll_interval_seconds,
        shutdown_grace=settings.service.shutdown_grace_seconds,
        scheduler=None if once else default_scheduler(),
        file_mail=not dry,
        ledger=pipeline.ledger,
        breaker=CircuitBreaker(base=min(5.0, settings.imap.poll_interval_seconds),
                               cap=settings.zendesk.outage_max_backoff_seconds),
        stop_flag=stop_flag,
        # A dry run prints the requests it would make: one message at a time, in order.
        concurrency=1 if dry else settings.service.concurrency,
        memory_budget=settings.service.memory_budget_bytes,
        retention=None if dry else _retention(settings, pipeline.ledger),
    )
    try:
        server = _serve_health(settings, service)
    except OSError as exc:
        pipeline.close()
        source.close()
        print(f"bso-ingest run: cannot serve [service] http_port {settings.service.http_port}: {exc}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    # Handlers first: the "reading" line tells a supervisor (and the tests) that a
    # SIGTERM from now on is a clean stop.
    service.install_signal_handlers()
    log.info("bso-ingest %s reading %s%s", metrics.VERSION, describe(settings),
             " (dry run: mail is read, not filed)" if dry else "")
    try:
        code = service.drain() if once else service.run()
    finally:
        if server is not None:
            server.stop()
        pipeline.close()
    if once:
        print(f"bso-ingest run --once: {service.summary.line()}", flush=True)
    if service.stop_reason:
        print(f"bso-ingest run: {service.stop_reason}", file=sys.stderr)
    return code
