"""Zendesk's per-ticket update limit (30 per 10 minutes per user per ticket): the
emulator enforces it, and the sink keeps a burst of replies into one ticket under
it by waiting, not by earning 429s.  One fake clock drives both sides."""
from __future__ import annotations

import requests

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from ingest.sink import build_sink
from routing.model import Route
from tests.zendesk_fixtures import emulator_settings, make_email, zendesk_emulator  # noqa: F401 - the fixture


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_emulator_answers_429_past_30_updates_to_one_ticket(zendesk_emulator: Emulator) -> None:
    clock = FakeClock()
    zendesk_emulator.store.clock = clock
    auth = (f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN)
    created = requests.post(f"{zendesk_emulator.url}/api/v2/tickets.json", auth=auth, timeout=10, json={
        "ticket": {"subject": "s", "comment": {"body": "b"}, "requester": {"email": "c@cliente.example"}}})
    ticket = created.json()["ticket"]["id"]

    def update() -> requests.Response:
        return requests.put(f"{zendesk_emulator.url}/api/v2/tickets/{ticket}.json", auth=auth, timeout=10,
                            json={"ticket": {"comment": {"body": "mais uma", "public": False}}})

    assert all(update().status_code == 200 for _ in range(30))
    refused = update()
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 599
    clock.now += 600
    assert update().status_code == 200


def test_a_burst_of_replies_into_one_ticket_waits_for_the_limit_instead_of_a_429(zendesk_emulator: Emulator) -> None:
    clock = FakeClock()
    zendesk_emulator.store.clock = clock
    settings = emulator_settings(zendesk_emulator, zendesk={"retry_budget_seconds": 900.0})
    sink = build_sink(settings, sleep=clock.sleep, clock=clock)
    ticket = sink.create(make_email(1), Route(group_id=100)).ticket_id
    for n in range(31):
        sink.comment(make_email(100 + n, requester=make_email(1).requester), ticket)
    comments = zendesk_emulator.tickets[ticket].comments
    assert len(comments) == 32  # the first one and 31 replies
    assert not [r for r in zendesk_emulator.requests if r.status == 429]
    assert clock.now >= 10_000.0 + 600  # the 31st waited for the window
