"""A Zendesk outage is not a message failure: the circuit breaker, the probe, the stop flag.

Unit tests drive the loop with fakes; the integration tests run `bso-ingest
run` against a real Dovecot and the emulator switched to "every request
fails" for several poll intervals, then back.
"""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_service import FakeSource

from ingest.breaker import CircuitBreaker
from ingest.emulator import Emulator, Faults
from ingest.errors import StopRequested, ZendeskOutage, ZendeskUnavailable
from ingest.outcomes import Created, Outcome
from ingest.service import EXIT_OK, EXIT_UNAVAILABLE, Service
from ingest.source import RawMessage
from ingest.stopping import StopFlag
from tests.dovecot import DovecotServer, dovecot, dovecot_server, service_env, support_mail  # noqa: F401
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

PROCESSED, QUARANTINE = "BSO/Processed", "BSO/Quarantine"


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FlakyZendesk:
    """A pipeline whose Zendesk is down while `down` is True (process and probe both fail)."""

    def __init__(self) -> None:
        self.down = True
        self.processed: list[str] = []
        self.probes = 0

    def process(self, msg: RawMessage) -> Outcome:
        if self.down:
            raise ZendeskOutage("POST /api/v2/tickets.json: 503")
        self.processed.append(msg.ref)
        return Created(ticket_id=len(self.processed))

    def probe(self) -> None:
        self.probes += 1
        if self.down:
            raise ZendeskUnavailable("probe GET /api/v2/users/me: 503")


def test_the_breaker_backs_off_and_caps() -> None:
    clock = Clock()
    breaker = CircuitBreaker(base=1.0, cap=5.0, clock=clock)
    assert [breaker.trip("down") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert breaker.is_open and not breaker.due()
    clock.now += 5
    assert breaker.due()
    breaker.close()
    assert not breaker.is_open and breaker.trip("again") == 1.0


def test_an_outage_leaves_the_inbox_alone_until_a_probe_succeeds() -> None:
    clock = Clock()
    source = FakeSource(["c1", "c2", "c3"])
    zendesk = FlakyZendesk()
    service = Service(source, zendesk, clock=clock, sleep=clock.sleep,
                      breaker=CircuitBreaker(base=1.0, cap=4.0, clock=clock))
    service.poll_once()
    assert service.breaker.is_open and source.filed == []
    for _ in range(4):  # four probes fail; the inbox is never read in between
        service.sleep()
        assert service.poll_once() == 0
    assert zendesk.probes == 4 and zendesk.processed == []
    assert [m.ref for m in source.inbox] == ["c1", "c2", "c3"]
    zendesk.down = False
    service.sleep()  # the probe succeeds and closes the breaker
    assert not service.breaker.is_open
    assert service.poll_once() == 3
    assert source.filed == [("c1", "created"), ("c2", "created"), ("c3", "created")]


def test_run_once_during_an_outage_exits_69_and_files_nothing() -> None:
    source = FakeSource(["c1", "c2"])
    service = Service(source, FlakyZendesk())
    assert service.drain() == EXIT_UNAVAILABLE
    assert "Zendesk unavailable" in service.stop_reason
    assert source.filed == [] and len(source.inbox) == 2


def test_stop_flag_ends_a_retry_wait_at_once() -> None:
    flag = StopFlag()
    started = time.monotonic()
    flag.sleep(0.01)
    flag.set()
    with pytest.raises(StopRequested):
        flag.sleep(30)
    assert time.monotonic() - started < 5


def _ledger_rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT state, attempts FROM messages ORDER BY key").fetchall()


@pytest.mark.dovecot
def test_zendesk_down_for_several_polls_then_back(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    mails = [support_mail(n) for n in range(1, 7)]
    dovecot.append(mails)
    zendesk_emulator.set_faults(Faults(error_rate=1.0))
    env = service_env(
        dovecot, zendesk_emulator.url, tmp_path,
        imap__poll_interval_seconds="0.5", zendesk__retry_budget_seconds="1",
        zendesk__outage_max_backoff_seconds="1", service__max_attempts="2",
    )
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Several poll intervals (and more than max_attempts) of outage.
        wait_for(lambda: zendesk_emulator.received >= 12, timeout=60, what="the service to keep probing")
        time.sleep(3.0)
        assert zendesk_emulator.tickets == {}
        assert len(dovecot.folder_uids("INBOX")) == 6
        assert dovecot.folder_uids(QUARANTINE) == []
        # The start-up probe found Zendesk down: at most the messages already in
        # flight (up to service.concurrency) were tried, and no claim counts an attempt.
        rows = _ledger_rows(tmp_path / "ledger.sqlite3")
        assert len(rows) <= 6 and all(row == ("claimed", 0) for row in rows), rows

        zendesk_emulator.set_faults(Faults())
        wait_for(lambda: len(dovecot.folder_uids(PROCESSED)) == 6, timeout=60, what="every message filed")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code == EXIT_OK, stderr[-3000:]
    tickets = list(zendesk_emulator.tickets.values())
    assert len(tickets) == 6
    assert len({t.external_id for t in tickets}) == 6  # no duplicates
    assert dovecot.folder_uids("INBOX") == [] and dovecot.folder_uids(QUARANTINE) == []
    assert {state for state, _ in _ledger_rows(tmp_path / "ledger.sqlite3")} == {"created"}
    assert "Zendesk unavailable" in stderr and "Zendesk answers again" in stderr


@pytest.mark.dovecot
def test_sigterm_during_a_long_retry_exits_cleanly_in_time(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    # A 5-minute retry budget: without the stop flag the first message would
    # sit in it until the watchdog killed the process (exit 143).
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, zendesk__retry_budget_seconds="300",
                      service__shutdown_grace_seconds="10")
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def answered(method: str, path: str) -> int:
        return sum(1 for r in list(zendesk_emulator.requests) if r.method == method and r.path.startswith(path))

    # Zendesk answers the start-up probe and the organizations refresh behind it,
    # then fails every request.  (Failing the refresh too only made the first
    # ticket POST wait ~20 s for the refresh's own retries to give up.)
    wait_for(lambda: answered("GET", "/api/v2/users/me") >= 1, timeout=60, what="the start-up probe")
    wait_for(lambda: any(r.status == 200 for r in list(zendesk_emulator.requests)
                         if r.path.startswith("/api/v2/organizations")),
             timeout=60, what="the start-up organizations refresh")
    zendesk_emulator.set_faults(Faults(error_rate=1.0))
    dovecot.append([support_mail(1)])
    wait_for(lambda: answered("POST", "/api/v2/tickets") >= 2, timeout=60, what="a retried ticket POST")
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = proc.wait(30)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code == EXIT_OK, stderr[-3000:]
    assert time.monotonic() - signalled < 5
    assert "stays in the inbox" in stderr
    assert len(dovecot.folder_uids("INBOX")) == 1
    assert _ledger_rows(tmp_path / "ledger.sqlite3") == [("claimed", 0)]


def test_pipeline_outage_counts_nothing_and_a_message_failure_counts(tmp_path: Path) -> None:
    from test_pipeline import Clock as DateClock
    from test_pipeline import FakeSink, make_raw, raw_message, settings_for

    from ingest.ledger import Ledger
    from ingest.outcomes import Deferred
    from ingest.pipeline import Pipeline
    from parsers import parse

    class DownSink(FakeSink):
        zendesk_up = False

        def probe(self) -> None:
            if not self.zendesk_up:
                raise ZendeskUnavailable("probe: ConnectionError")

    ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    sink = DownSink()
    pipe = Pipeline(ledger, sink, settings_for(tmp_path, max_attempts=2), now=DateClock())
    msg = raw_message(make_raw())
    key = parse(msg.raw).key
    for _ in range(5):  # far past max_attempts: an outage never quarantines
        sink.errors.append(ZendeskUnavailable("503 Service Unavailable", status=503))
        with pytest.raises(ZendeskOutage, match="stays in the inbox"):
            pipe.process(msg)
    row = ledger.get(key)
    assert (row.state, row.attempts) == ("claimed", 0)

    # Zendesk answers the probe, but this message still fails: that one counts.
    sink.zendesk_up = True
    sink.errors.append(ZendeskUnavailable("503 Service Unavailable", status=503))
    outcome = pipe.process(msg)
    assert isinstance(outcome, Deferred) and "attempt 1 of 2" in outcome.reason
    assert isinstance(pipe.process(msg), Created)
    assert len(sink.tickets) == 1
    ledger.close()
