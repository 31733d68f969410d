"""The run loop: run() → poll_once() → periodic() → stop? → sleep().

- An APScheduler 3.x interval job (coalesced, one instance at most) says when a
  poll is due; between polls the loop waits in IMAP IDLE, so new mail is
  picked up within a second instead of at the next interval.  The job only
  raises a flag: the mailbox connection belongs to the loop's thread alone.
- Each message goes through `pipeline.process` (claim → sink → record) and only
  a final outcome is acknowledged (filed) in the source afterwards.  A
  Deferred one stays in the inbox for the next poll.  With `concurrency` > 1,
  up to that many messages are processed at once by worker threads
  (ingest/drain.py, which keeps replies after their originals and one
  sender's mail in order); filing stays on the loop thread.
- Signal handlers only set a flag.  The first SIGTERM/SIGINT lets the current
  message finish and the loop stop; a watchdog thread ends the process when
  that takes longer than `service.shutdown_grace_seconds`, or at once on a
  second signal.  Ending there is safe: the ledger's claim makes a message
  interrupted mid-way be completed (idempotently) by the next run.
- A dropped mailbox connection is retried with exponential backoff.
- A Zendesk outage (ZendeskOutage from the pipeline) trips the one circuit
  breaker (ingest/breaker.py): the pass stops, the inbox is left alone, and
  the loop only probes Zendesk, with backoff, until it answers again.
- Every wait checks the stop flag: `_pause` here, and the Zendesk client's
  retry sleeps (StopFlag.sleep), so a SIGTERM mid-retry ends within the grace.
- Metrics (ingest/metrics.py) are updated here, where outcomes and polls end.
- Refused credentials (the mailbox, its identity provider, Zendesk 401/403)
  are an auth-failure state, not an outage (ingest/auth/state.py): one ERROR
  line naming who was refused and why, a backoff of one attempt per step up to
  5 minutes, and `auth.failing()` for readiness.  `run --once` stops instead:
  exit 3 for Zendesk, 77 for the mailbox.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from ingest import memory, metrics
from ingest.auth.state import AuthState
from ingest.breaker import CircuitBreaker
from ingest.drain import Drain
from ingest.errors import (
    AuthError,
    LedgerError,
    SourceError,
    StopRequested,
    ZendeskAuthError,
    ZendeskOutage,
    ZendeskUnavailable,
)
from ingest.outcomes import Outcome
from ingest.source import RawMessage
from ingest.sources import Mailbox
from ingest.stopping import StopFlag

log = logging.getLogger(__name__)

# Exit codes of `bso-ingest run` (sysexits.h where one fits).
EXIT_OK = 0
EXIT_UNAVAILABLE = 69  # --once could not read the mailbox
EXIT_LOCKED = 75  # another run holds the lock (EX_TEMPFAIL: try later)
EXIT_AUTH = 3  # Zendesk refused our credentials (the same code as `send`)
EXIT_MAILBOX_AUTH = 77  # --once: the mailbox or its identity provider refused us (EX_NOPERM)

MAX_BACKOFF_SECONDS = 60.0
HEARTBEAT_SECONDS = 300.0
STALE_CLAIM = timedelta(hours=1)
RETENTION_EVERY = 24 * 3600.0


class Processor(Protocol):
    def process(self, msg: RawMessage) -> Outcome: ...

    # Optional: `probe() -> None`, raising ZendeskUnavailable when Zendesk does not answer.

    def quarantine_unread(self, msg: RawMessage) -> Outcome: ...


class Claims(Protocol):
    """The part of the ledger `periodic` reads (ingest.ledger.Ledger)."""

    def pending(self, older_than: datetime) -> list[Any]: ...

    # Optional: `stats() -> dict[str, int]` (quarantine size for the metrics).


@dataclass
class Summary:
    """What a run did, by outcome kind, plus failures that left mail in place."""

    outcomes: Counter[str] = field(default_factory=Counter)
    ack_failures: int = 0
    errors: int = 0
    # A dry run creates nothing: its line says would_create=, not created=.
    dry_run: bool = False
    # Deferred only because another process holds them: that one finishes them.
    elsewhere: int = 0

    @property
    def handled(self) -> int:
        return sum(self.outcomes.values())

    def line(self) -> str:
        kinds = ("created", "commented", "skipped", "quarantined", "deferred")
        label = {"created": "would_create", "commented": "would_comment"} if self.dry_run else {}
        counts = " ".join(f"{label.get(kind, kind)}={self.outcomes.get(kind, 0)}" for kind in kinds)
        return f"{self.handled} messages: {counts} ack_failed={self.ack_failures} errors={self.errors}"


class ServiceStopped(Exception):
    """Raised inside the loop to leave it with an exit code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class Service:
    def __init__(
        self,
        source: Mailbox,
        pipeline: Processor,
        *,
        poll_interval: float = 60.0,
        shutdown_grace: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        scheduler: BaseScheduler | None = None,
        file_mail: bool = True,
        ledger: Claims | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        breaker: CircuitBreaker | None = None,
        stop_flag: StopFlag | None = None,
        concurrency: int = 1,
        memory_budget: int = 24 * 1024 * 1024,
        retention: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self.clock = clock
        self._sleep = sleep
        self.scheduler = scheduler
        # False in a dry run: its ledger lives in memory, so filing mail would
        # leave no record of why it moved.  The mailbox is then only read.
        self.file_mail = file_mail
        self.ledger = ledger
        self.wall_clock = wall_clock
        self.summary = Summary(dry_run=not file_mail)
        self._due = True
        self._next_poll = clock()
        self._backoff = 0.0
        # Written by signal handlers: plain attributes, nothing that locks.
        self._signals: list[tuple[int, float]] = []
        self._stop_requested = False
        self._last_heartbeat = clock()
        self._left_alone: set[str] | None = None
        # Why the service stopped on its own (an exit code other than 0).
        self.stop_reason = ""
        self._last_error = ""
        self.breaker = breaker or CircuitBreaker(base=min(5.0, poll_interval), clock=clock)
        self.stop_flag = stop_flag or StopFlag()
        # Monotonic time the loop last made progress (a poll ended, a probe ran): /healthz reads it.
        self.last_progress = clock()
        # For /readyz (ingest/health.py): since when the mailbox fails, the last ledger
        # failure, and whether Zendesk accepted our credentials since the start.
        self.mailbox_failing_since: float | None = None
        self.ledger_error = ""
        self.zendesk_accepted = False
        # `[ledger] retention_days`: ingest/retention.py's prune, once a day from periodic().
        self.retention = retention
        self._last_retention: float | None = None
        self.auth = AuthState(clock=clock)
        self.concurrency = concurrency
        self.memory_budget = memory_budget
        self._drain: Drain | None = None
        self._finished = 0

    # -- stopping -----------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop_requested or bool(self._signals) or self.stop_flag.is_set()

    def request_stop(self) -> None:
        """Finish the current message, then leave the loop."""
        self._stop_requested = True
        self.stop_flag.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append((signum, self.clock()))

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        threading.Thread(target=self._watchdog, name="shutdown-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        while True:
            time.sleep(0.1)
            if not self._signals:
                continue
            signum, first = self._signals[0]
            # Here, not in the handler: Event.set takes a lock a handler must not.
            self.stop_flag.set()
            if len(self._signals) > 1:
                log.warning("second signal: exiting now; unfinished messages are completed by the next run")
                os._exit(128 + self._signals[1][0])
            if self.clock() - first > self.shutdown_grace:
                log.warning("the current message did not finish within %.0fs of the signal: exiting now",
                            self.shutdown_grace)
                os._exit(128 + signum)

    # -- the loop -----------------------------------------------------------

    def run(self) -> int:
        """Polls until stopped; returns the process exit code."""
        self._start_scheduler()
        try:
            self._startup_probe()
            while True:
                finished = self.poll_once()
                self.periodic()
                if self.stopping:
                    log.info("stopping: %s", self.summary.line())
                    return EXIT_OK
                if finished:
                    continue  # mail may have arrived while we worked: look again first
                self.sleep()
        except ServiceStopped as stop:
            return self._stopped(stop)
        finally:
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            self._close_drain()
            self.source.close()

    def drain(self) -> int:
        """`run --once`: polls until a pass files nothing more; returns the exit code."""
        # Deferred or failed messages are tried once per drain, not once per pass.
        self._left_alone = set()
        try:
            self._startup_probe()
            while not self.stopping:
                self._due = True
                if not self.poll_once():
                    break
        except ServiceStopped as stop:
            return self._stopped(stop)
        finally:
            self._close_drain()
            self.source.close()
        if self.breaker.is_open:
            self.stop_reason = f"Zendesk unavailable: {self.breaker.reason}; the mail stays in the inbox"
            return EXIT_UNAVAILABLE
        if self._backoff:
            self.stop_reason = self._last_error
            return EXIT_MAILBOX_AUTH if "imap" in self.auth.refusals else EXIT_UNAVAILABLE
        deferred = self.summary.outcomes.get("deferred", 0) - self.summary.elsewhere + self.summary.errors
        if deferred:
            self.stop_reason = f"{deferred} message(s) deferred or failed; they stay in the inbox for the next run"
            return EXIT_UNAVAILABLE
        return EXIT_OK

    def _stopped(self, stop: ServiceStopped) -> int:
        log.error("%s", stop)
        self.stop_reason = str(stop)
        return stop.code

    def poll_once(self) -> int:
        """One pass over the inbox; returns how many messages were filed.

        While the Zendesk breaker is open the inbox is not read at all.
        """
        self._due = False
        self._next_poll = self.clock() + self.poll_interval
        finished = 0
        if self.breaker.is_open:
            return 0
        try:
            if self.concurrency > 1:
                finished = self._poll_concurrently()
            else:
                for msg in self.source.fetch():
                    if self.stopping:
                        break
                    if self._left_alone is not None and msg.ref in self._left_alone:
                        continue
                    finished += self._handle(msg)
                    size = len(msg.raw)
                    del msg  # not kept alive through the next FETCH
                    memory.trim(size)
        except ZendeskOutage as exc:
            self.breaker.trip(str(exc))
            self._observe_inbox()
            return finished
        except ZendeskAuthError as exc:  # `run` only: --once stops in _handle
            self._backoff = self.auth.failed("zendesk", exc, self._backoff)
            self.zendesk_accepted = False
            self._last_error = f"Zendesk refused our credentials: {exc}"
            self.last_progress = self.clock()  # alive, and trying with backoff
            return 0
        except AuthError as exc:
            self._backoff = self.auth.failed("imap", exc, self._backoff)
            self._last_error = f"mailbox credentials refused: {exc}"
            self.last_progress = self.clock()
            return 0
        except (SourceError, LedgerError) as exc:
            what = "mailbox" if isinstance(exc, SourceError) else "ledger"
            if isinstance(exc, LedgerError):
                metrics.LEDGER_ERRORS.inc()
                self.ledger_error = str(exc)
            else:
                self._mailbox_failed()
            self._backoff = min(MAX_BACKOFF_SECONDS, max(1.0, self._backoff * 2))
            self._last_error = f"{what} unavailable: {exc}"
            # A refused login will not fix itself: say it louder than a dropped connection.
            refused = getattr(self.source, "auth_failed", False) or isinstance(exc, LedgerError)
            log.log(logging.ERROR if refused else logging.WARNING, "%s; retrying in %.0fs",
                    self._last_error, self._backoff)
            return 0
        self._backoff = 0.0
        self.mailbox_failing_since = None
        self.ledger_error = ""
        if not self.stopping:
            metrics.LAST_POLL.set(self.wall_clock().timestamp())
        self.last_progress = self.clock()
        self._observe_inbox()
        self.auth.ok("imap")
        return finished

    def _observe_inbox(self) -> None:
        """Backlog, oldest message age and quarantine size, for /metrics (best effort)."""
        status = getattr(self.source, "inbox_status", None)
        if status is not None:
            try:
                count, oldest = status()
            except SourceError as exc:
                log.debug("inbox status unavailable: %s", exc)
            else:
                metrics.INBOX_BACKLOG.set(count)
                age = (self.wall_clock() - oldest).total_seconds() if oldest is not None else 0.0
                metrics.INBOX_OLDEST_AGE.set(max(0.0, age))
        stats = getattr(self.ledger, "stats", None)
        if stats is not None:
            try:
                metrics.QUARANTINE_SIZE.set(stats().get("quarantined", 0))
            except LedgerError as exc:
                metrics.LEDGER_ERRORS.inc()
                log.warning("cannot count quarantined messages: %s", exc)

    def _poll_concurrently(self) -> int:
        """poll_once with a Drain: workers process, this thread fetches and files."""
        drain = self._drain_for_poll()
        self._finished = 0
        gate = getattr(self.source, "set_gate", None)
        if gate is not None:
            gate(drain.room)
        try:
            for msg in self.source.fetch():
                if self.stopping:
                    break
                if self._left_alone is not None and msg.ref in self._left_alone:
                    continue
                drain.submit(msg)
                # The drain holds it now; this name must not keep the bytes
                # alive through the next FETCH.
                del msg
            drain.finish(stop=self.stopping)
        except BaseException:
            # Running messages still end and are filed; waiting ones stay for the next poll.
            drain.settle()
            raise
        finally:
            if gate is not None:
                gate(None)
        return self._finished

    def _drain_for_poll(self) -> Drain:
        if self._drain is None:
            self._drain = Drain(
                self._process,
                self._file,
                concurrency=self.concurrency,
                memory_budget=self.memory_budget,
                settled=_settled,
                leave=self._left_waiting,
            )
        return self._drain

    def _close_drain(self) -> None:
        if self._drain is not None:
            self._drain.close()
            self._drain = None

    def _process(self, msg: RawMessage) -> Outcome:
        if msg.unread:  # too large to read: quarantined by its headers
            return self.pipeline.quarantine_unread(msg)
        return self.pipeline.process(msg)

    def _file(self, msg: RawMessage, result: object) -> None:
        """A worker's result, on the loop thread: the same handling as a serial poll."""
        self._finished += self._handle(msg, result)

    def _left_waiting(self, msg: RawMessage, why: str) -> None:
        log.info("%s: not processed in this poll (%s); stays in the inbox", msg.origin or msg.ref, why)
        self._leave(msg)

    def _handle(self, msg: RawMessage, result: object = None) -> int:
        try:
            if result is None:
                outcome = self._process(msg)
            elif isinstance(result, BaseException):
                raise result
            else:
                outcome = result  # type: ignore[assignment]
        except ZendeskAuthError as exc:
            metrics.AUTH_FAILURES.labels(service="zendesk").inc()
            if self._left_alone is None:
                raise  # `run`: poll_once enters the auth-failure state; the message stays
            reason = f"Zendesk refused our credentials ({exc}); fix [zendesk] and restart"
            raise ServiceStopped(EXIT_AUTH, reason) from exc
        except (LedgerError, ZendeskOutage):
            raise
        except StopRequested:
            log.info("%s: stopping during a Zendesk retry wait; it stays in the inbox, the next run finishes it",
                     msg.origin or msg.ref)
            self._leave(msg)
            return 0
        except Exception:  # a bug must not stop the other messages; this one stays in the inbox
            self.summary.errors += 1
            log.exception("%s: processing failed; left in the inbox", msg.origin or msg.ref)
            self._leave(msg)
            return 0
        self.summary.outcomes[outcome.kind] += 1
        self.last_progress = self.clock()
        metrics.observe_outcome(outcome.kind, outcome.reason)
        if outcome.kind != "deferred" and msg.received_at is not None:
            metrics.PICKUP_LATENCY.observe(max(0.0, (self.wall_clock() - msg.received_at).total_seconds()))
        if outcome.kind in ("created", "commented"):
            self.auth.ok("zendesk")
            self.zendesk_accepted = True
        if outcome.kind == "deferred":
            if outcome.elsewhere:
                self.summary.elsewhere += 1
            log.info("%s: deferred (%s); stays in the inbox", msg.origin or msg.ref, outcome.reason)
            self._leave(msg)
            return 0
        if not self.file_mail:
            return 0
        try:
            self.source.ack(msg, outcome)
        except SourceError as exc:
            # The ledger has the outcome: the next poll fetches the message
            # again, the pipeline answers from the ledger, and we file it then.
            self.summary.ack_failures += 1
            log.warning("%s: %s", msg.origin or msg.ref, exc)
            return 0
        return 1

    def _leave(self, msg: RawMessage) -> None:
        if self._left_alone is not None:
            self._left_alone.add(msg.ref)

    def periodic(self) -> None:
        """Housekeeping between polls: a heartbeat line, and claims nobody finishes.

        A claimed message normally stays in the inbox and is finished by a
        later poll.  A claim that stays open for an hour means its mail left
        the inbox some other way (deleted by hand, moved in Outlook): say so,
        since no poll will ever finish it.
        """
        now = self.clock()
        if self.retention is not None and (self._last_retention is None
                                           or now - self._last_retention >= RETENTION_EVERY):
            self._last_retention = now
            try:
                self.retention()
            except LedgerError as exc:
                log.warning("ledger retention failed: %s", exc)
        if now - self._last_heartbeat < HEARTBEAT_SECONDS:
            return
        self._last_heartbeat = now
        log.info("alive: %s", self.summary.line())
        if self.ledger is None:
            return
        try:
            stale = self.ledger.pending(self.wall_clock() - STALE_CLAIM)
        except LedgerError as exc:
            log.warning("cannot list open claims: %s", exc)
            return
        for row in stale[:20]:
            log.warning("claim open since %s and not finished: key=%s ref=%s subject=%r"
                        " (is the mail still in the inbox?)", row.claimed_at, row.key, row.source_ref, row.subject)

    def sleep(self) -> None:
        """Until the next poll is due, new mail arrives (IDLE) or a stop request."""
        if self.breaker.is_open:
            self._pause(self.breaker.remaining())
            if not self.stopping:
                self._probe_zendesk()
            return
        if self._backoff:
            self._pause(self._backoff)
            self._due = True
            return
        while not self._poll_due():
            try:
                if self.source.wait_for_mail(timeout=self.poll_interval, stop=self._poll_due):
                    return
            except AuthError as exc:  # reconnecting for IDLE was refused
                self._backoff = self.auth.failed("imap", exc, self._backoff)
                self._pause(self._backoff)
                return
            except SourceError as exc:
                self._backoff = 1.0
                self._mailbox_failed()
                log.warning("mailbox connection lost while waiting (%s); reconnecting", exc)
                self._pause(self._backoff)
                return
            # No IDLE (Maildir, or switched off): wait in short slices.
            if not self._poll_due():
                self._pause(min(0.5, self.poll_interval))

    def _mailbox_failed(self) -> None:
        if self.mailbox_failing_since is None:
            self.mailbox_failing_since = self.clock()

    def _startup_probe(self) -> None:
        """Zendesk credentials are tried at start, not when the first mail arrives."""
        if getattr(self.pipeline, "probe", None) is None:
            self.zendesk_accepted = True
            return
        self._probe_zendesk(startup=True)

    def _probe_zendesk(self, startup: bool = False) -> None:
        """The breaker's trial: one request Zendesk must answer before the inbox is read again."""
        probe = getattr(self.pipeline, "probe", None)
        try:
            if probe is not None:
                probe()
        except ZendeskAuthError as exc:
            metrics.AUTH_FAILURES.labels(service="zendesk").inc()
            if self._left_alone is not None:  # --once
                raise ServiceStopped(EXIT_AUTH, f"Zendesk refused our credentials ({exc}); fix [zendesk] and restart"
                                     ) from exc
            # Zendesk answers (no outage), but refuses us: the auth-failure state.
            self.breaker.close()
            self.zendesk_accepted = False
            self._backoff = self.auth.failed("zendesk", exc, self._backoff)
        except ZendeskUnavailable as exc:
            self.breaker.trip(f"at start: {exc}" if startup else str(exc))
        else:
            self.zendesk_accepted = True
            self.breaker.close()
            self._due = True
        self.last_progress = self.clock()
        self._observe_inbox()

    def _poll_due(self) -> bool:
        # Without a scheduler (tests, --once) the injected clock sets the pace.
        timer = self.scheduler is None and self.clock() >= self._next_poll
        return self._due or timer or self.stopping

    def _pause(self, seconds: float) -> None:
        end = self.clock() + seconds
        while not self.stopping and self.clock() < end:
            self._sleep(min(0.2, max(end - self.clock(), 0.0)))

    def _start_scheduler(self) -> None:
        if self.scheduler is None:
            return
        self.scheduler.add_job(
            self._mark_due,
            "interval",
            seconds=self.poll_interval,
            coalesce=True,
            max_instances=1,
            id="poll",
            replace_existing=True,
        )
        if not self.scheduler.running:
            self.scheduler.start()

    def _mark_due(self) -> None:
        self._due = True


def _settled(result: object) -> bool:
    """A final outcome (the message is filed): a reply to it may be processed."""
    return not isinstance(result, BaseException) and getattr(result, "kind", "deferred") != "deferred"


def default_scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(timezone="UTC")
