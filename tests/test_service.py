"""The run loop with a fake source and a fake pipeline behind their protocols.

The real Dovecot + emulator runs are in test_imap_service.py and
test_crash.py; these pin the loop's own rules: what is acked and when,
stopping, backoff, the scheduler-free clock.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from ingest.errors import AckError, FetchError, ZendeskAuthError
from ingest.outcomes import Created, Deferred, Outcome, Quarantined, Skipped
from ingest.service import EXIT_AUTH, EXIT_OK, EXIT_UNAVAILABLE, Service
from ingest.source import RawMessage


class FakeSource:
    """An inbox in a list; `filed` records (ref, outcome kind) in ack order."""

    def __init__(self, refs: list[str] | None = None) -> None:
        self.inbox: list[RawMessage] = [RawMessage(ref=r, raw=r.encode()) for r in refs or []]
        self.filed: list[tuple[str, str]] = []
        self.fail_acks: set[str] = set()
        self.fail_fetches = 0
        self.new_mail = threading.Event()
        self.closed = False

    def fetch(self) -> Iterator[RawMessage]:
        if self.fail_fetches:
            self.fail_fetches -= 1
            raise FetchError("connection refused")
        yield from list(self.inbox)

    def ack(self, msg: RawMessage, outcome: Outcome) -> None:
        if msg.ref in self.fail_acks:
            self.fail_acks.discard(msg.ref)
            raise AckError(f"UID {msg.ref}: server said NO")
        self.inbox.remove(msg)
        self.filed.append((msg.ref, outcome.kind))

    def deliver(self, ref: str) -> None:
        self.inbox.append(RawMessage(ref=ref, raw=ref.encode()))
        self.new_mail.set()

    def wait_for_mail(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not stop():
            if self.new_mail.wait(0.05):
                self.new_mail.clear()
                return True
        return False

    def quarantined(self) -> Iterator[RawMessage]:
        return iter(())

    def requeue(self, msg: RawMessage) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


class FakePipeline:
    """Outcome by the ref's prefix: c=created s=skipped q=quarantined d=deferred."""

    def __init__(self, on_process: Callable[[RawMessage], None] = lambda msg: None) -> None:
        self.seen: list[str] = []
        self.on_process = on_process

    def process(self, msg: RawMessage) -> Outcome:
        self.seen.append(msg.ref)
        self.on_process(msg)
        kind = msg.ref[0]
        if kind == "a":
            raise ZendeskAuthError("401 Couldn't authenticate you", status=401)
        if kind == "x":
            raise RuntimeError("bug in a stage")
        return {
            "c": Created(ticket_id=len(self.seen)),
            "s": Skipped("automated"),
            "q": Quarantined("rejected"),
            "d": Deferred("zendesk down"),
        }[kind]


def test_final_outcomes_are_filed_and_deferred_ones_stay() -> None:
    source = FakeSource(["c1", "s2", "q3", "d4"])
    service = Service(source, FakePipeline())
    # `run --once` must not say "done" while mail was left behind.
    assert service.drain() == EXIT_UNAVAILABLE
    assert "1 message(s) deferred" in service.stop_reason
    assert source.filed == [("c1", "created"), ("s2", "skipped"), ("q3", "quarantined")]
    assert [m.ref for m in source.inbox] == ["d4"]
    assert service.summary.outcomes == {"created": 1, "skipped": 1, "quarantined": 1, "deferred": 1}
    assert source.closed


def test_a_failed_ack_is_filed_on_the_next_pass() -> None:
    source = FakeSource(["c1", "c2"])
    source.fail_acks = {"c1"}
    pipeline = FakePipeline()
    service = Service(source, pipeline)
    assert service.drain() == EXIT_OK
    assert sorted(source.filed) == [("c1", "created"), ("c2", "created")]
    assert service.summary.ack_failures == 1
    assert pipeline.seen == ["c1", "c2", "c1"]


def test_a_crashing_message_stays_and_the_others_go_on() -> None:
    source = FakeSource(["x1", "c2"])
    service = Service(source, FakePipeline())
    assert service.drain() == EXIT_UNAVAILABLE  # x1 is still in the inbox
    assert source.filed == [("c2", "created")]
    assert [m.ref for m in source.inbox] == ["x1"]
    assert service.summary.errors == 1


def test_zendesk_auth_error_stops_with_its_exit_code_and_acks_nothing() -> None:
    source = FakeSource(["c1", "a2", "c3"])
    pipeline = FakePipeline()
    assert Service(source, pipeline).drain() == EXIT_AUTH
    assert source.filed == [("c1", "created")]
    assert pipeline.seen == ["c1", "a2"]


def test_stop_request_finishes_the_current_message_only() -> None:
    source = FakeSource(["c1", "c2", "c3"])
    holder: dict[str, Service] = {}

    def stop_during_second(msg: RawMessage) -> None:
        if msg.ref == "c2":
            holder["service"].request_stop()

    service = holder["service"] = Service(source, FakePipeline(stop_during_second))
    assert service.drain() == EXIT_OK
    assert source.filed == [("c1", "created"), ("c2", "created")]
    assert [m.ref for m in source.inbox] == ["c3"]


def test_unreachable_mailbox_on_once_is_exit_69() -> None:
    source = FakeSource(["c1"])
    source.fail_fetches = 1
    assert Service(source, FakePipeline()).drain() == EXIT_UNAVAILABLE
    assert source.filed == []


def test_dry_run_reads_but_never_files() -> None:
    source = FakeSource(["c1", "s2"])
    service = Service(source, FakePipeline(), file_mail=False)
    assert service.drain() == EXIT_OK
    assert source.filed == []
    assert service.summary.outcomes == {"created": 1, "skipped": 1}


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_mailbox_errors_back_off_exponentially_then_recover() -> None:
    source = FakeSource(["c1"])
    source.fail_fetches = 3
    clock = ManualClock()
    service = Service(source, FakePipeline(), clock=clock, sleep=clock.sleep, poll_interval=600)
    for _ in range(3):
        assert service.poll_once() == 0
        service.sleep()
    # 1 s, 2 s, 4 s of backoff, waited on the injected clock.
    assert round(sum(clock.slept)) == 7
    assert service.poll_once() == 1
    assert source.filed == [("c1", "created")]


def test_without_a_scheduler_the_injected_clock_paces_the_polls() -> None:
    source = FakeSource([])
    clock = ManualClock()
    service = Service(source, FakePipeline(), clock=clock, sleep=clock.sleep, poll_interval=30)
    service.poll_once()
    source.wait_for_mail = lambda timeout, stop=lambda: False: False  # type: ignore[method-assign]
    service.sleep()
    assert 30 <= clock.now < 31


def test_run_picks_up_new_mail_between_polls_and_stops_on_request() -> None:
    source = FakeSource(["c1"])
    service = Service(source, FakePipeline(), poll_interval=3600)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while len(source.filed) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        source.deliver("c2")  # "IDLE" wakes the loop long before the hour-long interval
        while len(source.filed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.filed == [("c1", "created"), ("c2", "created")]
        assert time.monotonic() - started < 1.0
    finally:
        service.request_stop()
        thread.join(5)
    assert codes == [EXIT_OK]
    assert source.closed


class FakeLedger:
    def __init__(self, rows: list[object]) -> None:
        self.rows = rows
        self.asked: list[object] = []

    def pending(self, older_than: object) -> list[object]:
        self.asked.append(older_than)
        return self.rows


def test_periodic_warns_about_claims_no_poll_will_finish(caplog: object) -> None:
    from datetime import datetime, timezone
    from types import SimpleNamespace

    import logging

    clock = ManualClock()
    row = SimpleNamespace(claimed_at="2026-11-28T10:00:00", key="k1", source_ref="7:42", subject="Pedido")
    ledger = FakeLedger([row])
    wall = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    service = Service(FakeSource([]), FakePipeline(), clock=clock, sleep=clock.sleep, ledger=ledger,
                      wall_clock=lambda: wall)
    service.periodic()
    assert ledger.asked == []  # not yet: once per heartbeat
    clock.now += 301
    with caplog.at_level(logging.WARNING, logger="ingest.service"):  # type: ignore[attr-defined]
        service.periodic()
    assert ledger.asked == [datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc)]
    assert "key=k1 ref=7:42" in caplog.text  # type: ignore[attr-defined]


def test_the_scheduler_job_is_coalesced_single_and_drives_the_polls() -> None:
    from ingest.service import default_scheduler

    class CountingSource(FakeSource):
        polls = 0

        def fetch(self) -> Iterator[RawMessage]:
            CountingSource.polls += 1
            return super().fetch()

        def wait_for_mail(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
            return False  # no IDLE: only the scheduler wakes the loop

    source = CountingSource([])
    scheduler = default_scheduler()
    service = Service(source, FakePipeline(), poll_interval=0.3, scheduler=scheduler)
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        time.sleep(0.2)
        job = scheduler.get_job("poll")
        assert job.coalesce is True and job.max_instances == 1
        assert job.trigger.interval.total_seconds() == 0.3
        time.sleep(1.0)
    finally:
        service.request_stop()
        thread.join(5)
    # One poll at start, then one per interval (about 3 in 1.2 s), not a busy loop.
    assert 3 <= CountingSource.polls <= 6
