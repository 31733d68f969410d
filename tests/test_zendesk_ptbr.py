"""Each non-automated message of the ptbr corpus, parsed and sent to a strict
emulator (with faults), makes exactly one ticket shaped as the email channel
would: the sender as requester and first-comment author, attachments byte for
byte with their names and types, and no support address among the CCs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.emulator import Faults
from ingest.pipeline import route_stage as route
from ingest.settings import Settings
from ingest.sink import build_sink
from parsers.parse import parse
from tests.conftest import corpus_dir, corpus_files
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401

SUPPORT = Settings().routing.support_addresses


def _real_mail(path: Path) -> bool:
    return json.loads(path.with_name(path.name.replace(".eml", ".expected.json")).read_text())["automated"] is None


MESSAGES = [p for p in corpus_files("ptbr") if _real_mail(p)]


@pytest.mark.parametrize("path", MESSAGES or [None], ids=lambda p: p.stem if p else "no-corpus")
def test_ptbr_message_makes_one_ticket_as_the_email_channel_would(zendesk_emulator, path):
    corpus_dir("ptbr")  # skips with a clear message when the corpus is absent
    expected = json.loads(path.with_name(path.name.replace(".eml", ".expected.json")).read_text())
    email = parse(path.read_bytes())
    settings = emulator_settings(zendesk_emulator)
    zendesk_emulator.set_faults(Faults(seed=len(path.name), error_rate=0.2, reset_after_create_rate=0.5))
    sink = build_sink(settings, sleep=lambda _s: None)

    created = sink.create(email, route(email, settings))

    assert len(zendesk_emulator.tickets) == 1
    ticket = zendesk_emulator.tickets[created.ticket_id]
    users = zendesk_emulator.users
    requester = users[ticket.requester_id]
    assert requester.email == expected["from"]["email"].lower()
    if expected["from"]["name"]:
        assert requester.name == expected["from"]["name"]
    first = ticket.comments[0]
    assert first.author_id == ticket.requester_id and first.public
    got = [(a.file_name, a.content_type, a.sha256, len(a.content)) for a in first.attachments]
    want = [(a["filename"], a["content_type"], a["sha256"], a["size"]) for a in expected["attachments"]]
    assert got == want
    ccs = [users[i].email for i in ticket.email_cc_ids]
    assert not {a.lower() for a in SUPPORT} & set(ccs)
    assert sorted(ccs) == sorted(c.lower() for c in expected["cc"] if c.lower() != requester.email)
    posts = [r for r in zendesk_emulator.requests if r.method == "POST" and r.path.startswith("/api/v2/tickets")]
    assert {r.headers["idempotency-key"] for r in posts} == {email.key}
