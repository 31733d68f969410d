"""ZendeskClient retries against the emulator: 429 waits Retry-After, 5xx and
timeouts back off within the budget, 4xx never retried, secrets never logged.
Time is a fake clock: sleeping only moves it forward."""
from __future__ import annotations

import logging
import random
import socket
import time

import pytest
import requests

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator, Faults
from ingest.errors import ZendeskAuthError, ZendeskRejected, ZendeskUnavailable
from ingest.ratelimit import AccountLimiter
from ingest.zendesk import BACKOFF_BASE, ZendeskClient, _never_sent, _retry_after
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - fixture


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(emu: Emulator, fake: FakeTime, *, budget: float = 60.0, token: str = DEFAULT_API_TOKEN,
           timeout: float = 5.0, seed: int = 1, limiter: AccountLimiter | None = None) -> ZendeskClient:
    return ZendeskClient(emu.url, email=DEFAULT_EMAIL, api_token=token, retry_budget=budget, timeout=timeout,
                         sleep=fake.sleep, clock=fake.clock, rng=random.Random(seed), limiter=limiter)


TICKET = {"ticket": {"subject": "s", "comment": {"body": "b"}, "requester": {"email": "a@c.example"},
                     "external_id": "bso-ingest:k1"}}


def posts(emu: Emulator) -> list:
    return [r for r in emu.requests if r.method == "POST" and r.path.startswith("/api/v2/tickets")]


def test_429_waits_retry_after_then_succeeds_with_the_same_key(zendesk_emulator):
    fake = FakeTime()
    zendesk_emulator.plan.clock = fake.clock  # the emulator's rate window runs on the same fake time
    zendesk_emulator.set_faults(Faults(rate_limit=1, rate_window=10))
    # The limiter runs on the same fake time, so waiting for the 1-request
    # window costs no real minute; its own waits are kept apart from the
    # client's Retry-After sleep asserted below.  reserve=-1: it does not wait
    # out the window ahead, so the server's 429 this test is about comes.
    paced: list[float] = []

    def limiter_sleep(seconds: float) -> None:
        paced.append(seconds)
        fake.now += seconds

    c = client(zendesk_emulator, fake,
               limiter=AccountLimiter(6000, reserve=-1, clock=fake.clock, sleep=limiter_sleep))
    token, refused = c.upload_files([("a.txt", "text/plain", b"abc")], c.budget("t"))
    assert refused == []
    ticket = c.create_ticket({"ticket": {**TICKET["ticket"], "comment": {"body": "b", "uploads": [token]}}},
                             "k1", c.budget("t"))
    assert fake.sleeps == [10.0]
    assert [r.status for r in posts(zendesk_emulator)] == [429, 201]
    assert {r.headers["idempotency-key"] for r in posts(zendesk_emulator)} == {"k1"}
    assert zendesk_emulator.tickets[ticket["id"]].comments[0].attachments[0].content == b"abc"


def test_5xx_backs_off_exponentially_with_jitter_until_the_budget_is_spent(zendesk_emulator):
    zendesk_emulator.set_faults(Faults(error_rate=1.0))
    fake = FakeTime()
    c = client(zendesk_emulator, fake, budget=20)
    with pytest.raises(ZendeskUnavailable, match="retry budget"):
        c.create_ticket(TICKET, "k1", c.budget("create"))
    assert sum(fake.sleeps) <= 20
    for n, delay in enumerate(fake.sleeps):
        step = BACKOFF_BASE * 2**n
        assert step / 2 <= delay <= step
    assert len(fake.sleeps) >= 4
    # Jitter: another random source waits differently.
    other = FakeTime()
    with pytest.raises(ZendeskUnavailable):
        c = client(zendesk_emulator, other, budget=20, seed=2)
        c.create_ticket(TICKET, "k1", c.budget("x"))
    assert other.sleeps != fake.sleeps
    assert not zendesk_emulator.tickets
    assert {r.headers["idempotency-key"] for r in posts(zendesk_emulator)} == {"k1"}


def test_intermittent_5xx_still_make_one_ticket(zendesk_emulator):
    zendesk_emulator.set_faults(Faults(seed=3, error_rate=0.5))
    fake = FakeTime()
    c = client(zendesk_emulator, fake)
    for n in range(10):
        c.create_ticket({"ticket": {**TICKET["ticket"], "external_id": f"e{n}"}}, f"k{n}", c.budget("x"))
    errors = [r for r in zendesk_emulator.requests if r.fault == "error"]
    assert errors and len(fake.sleeps) == len(errors)
    assert len(zendesk_emulator.tickets) == 10


def test_timeout_after_the_server_created_the_ticket_is_retried_safely(zendesk_emulator):
    # The first POST is slow: the client times out while the emulator creates
    # the ticket.  The retry (same key, same body) gets the stored answer.
    zendesk_emulator.set_faults(Faults(latency=0.6))
    fake = FakeTime()
    c = ZendeskClient(zendesk_emulator.url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN, timeout=0.3,
                      sleep=lambda s: zendesk_emulator.set_faults(Faults()), clock=fake.clock)
    ticket = c.create_ticket(TICKET, "k1", c.budget("x"))
    # Wait for the slow handler to finish logging before reading the log.
    deadline = time.monotonic() + 3
    while len(posts(zendesk_emulator)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(zendesk_emulator.tickets) == 1 and ticket["id"] in zendesk_emulator.tickets
    assert [r.status for r in posts(zendesk_emulator)] == [201, 201]
    assert {r.headers["idempotency-key"] for r in posts(zendesk_emulator)} == {"k1"}


def test_422_is_rejected_with_details_and_not_retried(zendesk_emulator):
    fake = FakeTime()
    c = client(zendesk_emulator, fake)
    bad = {"ticket": {**TICKET["ticket"], "priority": "sky-high"}}
    with pytest.raises(ZendeskRejected) as info:
        c.create_ticket(bad, "k1", c.budget("x"))
    assert info.value.status == 422
    assert "priority" in info.value.details
    assert len(zendesk_emulator.requests) == 1 and not fake.sleeps


def test_401_is_an_auth_error_and_the_token_is_never_logged(zendesk_emulator, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeTime()
    c = client(zendesk_emulator, fake, token="s3cr3t-value")
    with pytest.raises(ZendeskAuthError) as info:
        c.create_ticket(TICKET, "k1", c.budget("x"))
    assert info.value.status == 401
    assert len(zendesk_emulator.requests) == 1
    assert "s3cr3t-value" not in caplog.text and "s3cr3t-value" not in str(info.value)


def test_connection_refused_is_unavailable_after_the_budget():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeTime()
    c = ZendeskClient(f"http://127.0.0.1:{port}", email=DEFAULT_EMAIL, api_token="x", retry_budget=5,
                      sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(ZendeskUnavailable):
        c.find_ticket_by_external_id("bso-ingest:k", c.budget("lookup"))
    assert fake.sleeps and sum(fake.sleeps) <= 5


def test_https_is_required_except_on_loopback():
    with pytest.raises(ValueError, match="https"):
        ZendeskClient("http://acme.zendesk.com", email="a@b.c", api_token="t")
    ZendeskClient("http://127.0.0.1:9", email="a@b.c", api_token="t")
    ZendeskClient("https://acme.zendesk.com", oauth_token="t")
    with pytest.raises(ValueError, match="credentials"):
        ZendeskClient("https://acme.zendesk.com")


def test_retry_after_accepts_seconds_and_http_dates():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert _retry_after("soon") is None


def test_refused_connection_counts_as_never_sent_but_a_reset_does_not(zendesk_emulator):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{port}/")
    assert _never_sent(refused.value)
    zendesk_emulator.set_faults(Faults(reset_after_create_rate=1.0))
    with pytest.raises(requests.ConnectionError) as reset:
        requests.post(zendesk_emulator.url + "/api/v2/tickets.json", json=TICKET,
                      auth=(f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN))
    assert not _never_sent(reset.value)
