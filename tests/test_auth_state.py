"""The auth-failure state in the run loop, with fakes behind the protocols (tests/test_service.py's).

Refused credentials, the mailbox's or Zendesk's, are not an outage and not a
crash: one ERROR line, backoff one attempt per step, readiness failing, the
mail left where it is; `run --once` stops with its exit code.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from test_service import FakePipeline, FakeSource

from ingest import metrics
from ingest.auth.state import AuthState
from ingest.errors import AuthError
from ingest.health import Health
from ingest.service import EXIT_AUTH, EXIT_MAILBOX_AUTH, Service
from ingest.source import RawMessage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class RefusingSource(FakeSource):
    """A mailbox whose login is refused while `refusing`; counts the attempts."""

    def __init__(self, refs: list[str]) -> None:
        super().__init__(refs)
        self.refusing = True
        self.attempts = 0

    def fetch(self) -> Iterator[RawMessage]:
        self.attempts += 1
        if self.refusing:
            raise AuthError("microsoft tenant=t client=c: Entra ID refused the secret (AADSTS7000215, invalid_client)",
                            who="microsoft tenant=t client=c", code="AADSTS7000215")
        yield from super().fetch()


def test_a_refused_mailbox_backs_off_one_attempt_per_step_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    source = RefusingSource(["c1"])
    service = Service(source, FakePipeline(), clock=clock, sleep=clock.sleep)
    health = Health(service, live_seconds=600)
    steps = []
    for _ in range(6):
        service.poll_once()
        steps.append(service._backoff)
        before = source.attempts
        service.sleep()  # waits out the backoff, tries nothing
        assert source.attempts == before
    assert steps == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert source.attempts == 6 and source.filed == []
    ready, checks = health.ready()
    assert not ready and "AADSTS7000215" in checks["mailbox"][1] and "6 attempts" in checks["mailbox"][1]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "tenant=t client=c" in errors[0].getMessage()

    source.refusing = False
    assert service.poll_once() == 1
    assert not service.auth.failing() and source.filed == [("c1", "created")]
    assert any("credentials accepted again after 6 refused attempts" in r.getMessage() for r in caplog.records)


def test_run_once_with_a_refused_mailbox_exits_77() -> None:
    service = Service(RefusingSource(["c1"]), FakePipeline())
    assert service.drain() == EXIT_MAILBOX_AUTH
    assert "AADSTS7000215" in service.stop_reason


def test_a_zendesk_401_during_run_is_an_auth_state_not_an_exit() -> None:
    clock = Clock()
    source = FakeSource(["c1", "a2", "c3"])
    pipeline = FakePipeline()
    service = Service(source, pipeline, clock=clock, sleep=clock.sleep)
    refused = metrics.value("bso_ingest_auth_failures_total", {"service": "zendesk"})
    assert service.poll_once() == 0  # c1 filed, then a2 refused: the pass stops
    assert source.filed == [("c1", "created")]
    assert [f.service for f in service.auth.failing()] == ["zendesk"]
    assert [m.ref for m in source.inbox] == ["a2", "c3"]  # left where they were
    assert metrics.value("bso_ingest_auth_failures_total", {"service": "zendesk"}) == refused + 1
    ready, checks = Health(service, live_seconds=600).ready()
    assert not ready and "refused" in checks["zendesk"][1]
    assert service._backoff == 2.0
    service.poll_once()
    assert service._backoff == 4.0  # one more attempt, one more step


def test_run_once_still_stops_on_a_zendesk_401() -> None:
    assert Service(FakeSource(["a1"]), FakePipeline()).drain() == EXIT_AUTH


def test_the_same_refusal_is_repeated_at_error_only_every_repeat_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ingest.auth")
    clock = Clock()
    state = AuthState(clock=clock, repeat_seconds=300)
    backoff = 0.0
    for n in range(12):
        # The provider's text changes each time (a trace id); the code does not.
        backoff = state.failed("imap", AuthError(f"refused, trace {n}", code="AADSTS7000215"), backoff)
        clock.now += backoff
    assert backoff == 300.0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    # The first, then once per 5 minutes of refusals (the backoff reaches 300 s).
    assert len(errors) < 12 and errors[0].startswith("imap credentials refused: refused, trace 0")
    assert all("still refused" in line for line in errors[1:])
    state.failed("imap", AuthError("another problem", code="AADSTS700016"), backoff)
    # Another refusal (a new code) is said at once.
    assert caplog.records[-1].levelno == logging.ERROR and "another problem" in caplog.records[-1].getMessage()
    assert state.refusals["imap"].code == "AADSTS700016"
