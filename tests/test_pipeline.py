"""Pipeline rules with a fake Sink behind the protocol and a real (SQLite) ledger.

The fake behaves like Zendesk where it matters here: creation is idempotent on
the message key, and it can be told to fail in the ways the real client does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.errors import LedgerError, ZendeskAuthError, ZendeskRejected, ZendeskUnavailable
from ingest.ledger import Ledger
from ingest.outcomes import Commented, Created, Deferred, Quarantined, Skipped
from ingest.pipeline import IDEMPOTENCY_WINDOW, Pipeline, Stages, build_pipeline
from ingest.settings import Settings
from ingest.sink import TicketInfo
from ingest.source import RawMessage
from ingest.replies import Thread
from parsers import Email, ParseError, parse
from routing import Route

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class FakeSink:
    """Implements ingest.sink.Sink; records every call."""

    errors: list[Exception] = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)
    tickets: dict[str, int] = field(default_factory=dict)
    next_id: int = 1000

    def _maybe_fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    def create(self, email: Email, route: Route, *, lookup_first: bool = False,
               followup_of: int | None = None) -> Created:
        self.calls.append(("create", email.key, lookup_first, followup_of, route.group_id))
        self._maybe_fail()
        if email.key not in self.tickets:  # idempotent on the key, as Zendesk is
            self.next_id += 1
            self.tickets[email.key] = self.next_id
        return Created(ticket_id=self.tickets[email.key])

    def comment(self, email: Email, ticket_id: int, *, lookup_first: bool = False) -> Commented:
        self.calls.append(("comment", email.key, ticket_id, lookup_first))
        self._maybe_fail()
        return Commented(ticket_id=ticket_id)

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        return None

    @property
    def creates(self) -> int:
        return sum(1 for c in self.calls if c[0] == "create")


def make_raw(subject: str = "Erro ao gerar relatório", *, msgid: str = "<m1@cliente.com.br>",
             sender: str = "Ana Souza <ana@cliente.com.br>", body: str = "O relatório falha.\n",
             received: str | None = None) -> bytes:
    msg = EmailMessage()
    if received:
        msg["Received"] = received
    msg["From"] = sender
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    msg["Date"] = "Mon, 02 Mar 2026 09:00:00 -0300"
    msg.set_content(body)
    return msg.as_bytes()


def raw_message(raw: bytes, ref: str = "1:1") -> RawMessage:
    return RawMessage(ref=ref, raw=raw, origin=f"test uid {ref}")


def settings_for(tmp_path: Path, *, max_attempts: int = 3, dry_run: bool = False) -> Settings:
    return Settings(
        service={"dry_run": dry_run, "max_attempts": max_attempts},
        ledger={"url": f"sqlite:///{tmp_path / 'var' / 'ledger.sqlite3'}"},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield led
    led.close()


def pipeline(ledger: Ledger, sink: FakeSink, clock: Clock, tmp_path: Path, stages: Stages | None = None,
             **settings: object) -> Pipeline:
    return Pipeline(ledger, sink, settings_for(tmp_path, **settings), now=clock, stages=stages)


def test_a_new_message_creates_one_ticket_and_records_it(ledger, sink, clock, tmp_path) -> None:
    raw = make_raw()
    outcome = pipeline(ledger, sink, clock, tmp_path).process(raw_message(raw))

    key = parse(raw).key
    assert outcome == Created(ticket_id=sink.tickets[key])
    assert sink.calls == [("create", key, False, None, None)]
    row = ledger.get(key)
    assert row is not None
    assert (row.state, row.ticket_id, row.message_id, row.sender) == (
        "created", outcome.ticket_id, "<m1@cliente.com.br>", "ana@cliente.com.br")


def test_the_same_mail_delivered_again_returns_the_recorded_outcome_without_the_sink(
        ledger, sink, clock, tmp_path) -> None:
    pipe = pipeline(ledger, sink, clock, tmp_path)
    first = pipe.process(raw_message(make_raw(received="from a by b; Mon, 2 Mar 2026 09:00:01 -0300"), ref="1:1"))
    clock.advance(timedelta(hours=5))
    again = pipe.process(raw_message(make_raw(received="from c by d; Mon, 2 Mar 2026 09:07:00 -0300"), ref="1:2"))

    assert again == first
    assert sink.creates == 1
    # ...and the ledger knows where the copy is, for the ack.
    assert ledger.get(parse(make_raw()).key).source_ref == "1:2"


def test_a_reused_message_id_with_other_content_is_another_message(ledger, sink, clock, tmp_path) -> None:
    pipe = pipeline(ledger, sink, clock, tmp_path)
    a = pipe.process(raw_message(make_raw(body="primeiro problema\n")))
    b = pipe.process(raw_message(make_raw(body="outro problema, mesmo Message-ID\n")))
    assert isinstance(a, Created) and isinstance(b, Created)
    assert a.ticket_id != b.ticket_id
    assert sink.creates == 2


def test_an_unfinished_claim_within_two_hours_retries_on_the_idempotency_key(ledger, sink, clock, tmp_path) -> None:
    raw = make_raw()
    key = parse(raw).key
    # A crash after the claim: the row is claimed, the outcome never recorded.
    ledger.claim(key, message_id="<m1@cliente.com.br>", sender="ana@cliente.com.br", subject="", ref="1:1", now=T0)
    clock.advance(IDEMPOTENCY_WINDOW - timedelta(minutes=1))

    outcome = pipeline(ledger, sink, clock, tmp_path).process(raw_message(raw))
    assert isinstance(outcome, Created)
    assert sink.calls == [("create", key, False, None, None)]


def test_an_unfinished_claim_older_than_two_hours_looks_the_ticket_up_first(ledger, sink, clock, tmp_path) -> None:
    raw = make_raw()
    key = parse(raw).key
    ledger.claim(key, message_id="<m1@cliente.com.br>", sender="ana@cliente.com.br", subject="", ref="1:1", now=T0)
    clock.advance(IDEMPOTENCY_WINDOW + timedelta(minutes=1))

    outcome = pipeline(ledger, sink, clock, tmp_path).process(raw_message(raw))
    assert isinstance(outcome, Created)
    assert sink.calls == [("create", key, True, None, None)]
    assert ledger.get(key).state == "created"


def test_rejected_is_quarantined_with_zendesks_details_and_stays_so(ledger, sink, clock, tmp_path) -> None:
    details = {"requester": [{"description": "Requester: Email is invalid"}]}
    sink.errors.append(ZendeskRejected("ticket create refused", status=422, details=details))
    pipe = pipeline(ledger, sink, clock, tmp_path)

    outcome = pipe.process(raw_message(make_raw()))
    assert isinstance(outcome, Quarantined)
    assert "<m1@cliente.com.br>" in outcome.reason
    assert "HTTP 422" in outcome.reason and "Email is invalid" in outcome.reason
    assert ledger.quarantined()[0].reason == outcome.reason

    # Seen again (the ack failed, say): the recorded quarantine, no new request.
    assert pipe.process(raw_message(make_raw())) == outcome
    assert sink.creates == 1


def test_transient_failures_defer_then_quarantine_after_max_attempts(ledger, sink, clock, tmp_path) -> None:
    sink.errors.extend(ZendeskUnavailable("503 Service Unavailable", status=503) for _ in range(3))
    pipe = pipeline(ledger, sink, clock, tmp_path, max_attempts=3)
    msg = raw_message(make_raw())
    key = parse(msg.raw).key

    first, second = pipe.process(msg), pipe.process(msg)
    assert isinstance(first, Deferred) and isinstance(second, Deferred)
    assert "503" in first.reason and "attempt 1 of 3" in first.reason
    assert ledger.get(key).state == "claimed" and ledger.get(key).attempts == 2

    third = pipe.process(msg)
    assert isinstance(third, Quarantined)
    assert third.reason.startswith("gave up after 3 attempts:") and "503" in third.reason
    assert ledger.get(key).state == "quarantined"
    assert sink.creates == 3
    # Final now: never retried again.
    assert pipe.process(msg) == third and sink.creates == 3


def test_a_deferral_followed_by_success_creates_one_ticket(ledger, sink, clock, tmp_path) -> None:
    sink.errors.append(ZendeskUnavailable("429 past the retry budget", status=429))
    pipe = pipeline(ledger, sink, clock, tmp_path)
    msg = raw_message(make_raw())
    assert isinstance(pipe.process(msg), Deferred)
    clock.advance(timedelta(minutes=1))
    outcome = pipe.process(msg)
    assert isinstance(outcome, Created)
    assert len(sink.tickets) == 1
    row = ledger.get(parse(msg.raw).key)
    assert (row.state, row.attempts, row.reason) == ("created", 1, None)


def test_an_unexpected_sink_error_is_a_counted_deferral(ledger, sink, clock, tmp_path) -> None:
    sink.errors.append(ConnectionResetError("connection reset by peer"))
    outcome = pipeline(ledger, sink, clock, tmp_path).process(raw_message(make_raw()))
    assert isinstance(outcome, Deferred)
    assert "ConnectionResetError" in outcome.reason
    assert ledger.get(parse(make_raw()).key).attempts == 1


def test_an_auth_error_propagates_and_leaves_the_claim_open(ledger, sink, clock, tmp_path) -> None:
    sink.errors.append(ZendeskAuthError("401 Couldn't authenticate you", status=401))
    pipe = pipeline(ledger, sink, clock, tmp_path)
    with pytest.raises(ZendeskAuthError):
        pipe.process(raw_message(make_raw()))
    row = ledger.get(parse(make_raw()).key)
    assert (row.state, row.attempts) == ("claimed", 0)
    # Fixed credentials: the next try creates the ticket.
    assert isinstance(pipe.process(raw_message(make_raw())), Created)


def test_unparseable_bytes_are_quarantined_under_a_raw_key(ledger, sink, clock, tmp_path) -> None:
    def refuse(raw: bytes) -> Email:
        raise ParseError("no usable sender (From, Sender, Return-Path)")

    pipe = pipeline(ledger, sink, clock, tmp_path, stages=Stages(parse=refuse))
    msg = raw_message(b"garbage without headers", ref="5:17")
    outcome = pipe.process(msg)

    assert isinstance(outcome, Quarantined)
    assert "no usable sender" in outcome.reason and "test uid 5:17" in outcome.reason
    [row] = ledger.quarantined()
    assert row.key.startswith("raw:") and row.source_ref == "5:17"
    assert sink.calls == []
    assert pipe.process(msg) == outcome  # same bytes, same key


def test_the_real_parser_refusing_a_message_quarantines_it(ledger, sink, clock, tmp_path) -> None:
    raw = b"Subject: no sender at all\r\n\r\nbody\r\n"
    try:
        parse(raw)
    except ParseError:
        pass
    else:
        pytest.skip("the parser accepts a message without any sender; nothing to quarantine")
    outcome = pipeline(ledger, sink, clock, tmp_path).process(raw_message(raw))
    assert isinstance(outcome, Quarantined) and ledger.quarantined()[0].key.startswith("raw:")


@pytest.mark.parametrize("stage", ["classify", "route"])
def test_a_crashing_stage_quarantines_the_message_and_names_it(ledger, sink, clock, tmp_path, stage) -> None:
    def boom(*args: object) -> None:
        raise KeyError("missing_field")

    pipe = pipeline(ledger, sink, clock, tmp_path, stages=Stages(**{stage: boom}))
    outcome = pipe.process(raw_message(make_raw(), ref="9:3"))
    assert isinstance(outcome, Quarantined)
    assert outcome.reason.startswith(f"{stage} failed on <m1@cliente.com.br> (test uid 9:3): KeyError")
    assert sink.calls == []
    assert ledger.get(parse(make_raw()).key).state == "quarantined"


def test_a_crashing_parser_is_quarantined_too(ledger, sink, clock, tmp_path) -> None:
    def crash(raw: bytes) -> Email:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    outcome = pipeline(ledger, sink, clock, tmp_path, stages=Stages(parse=crash)).process(raw_message(make_raw()))
    assert isinstance(outcome, Quarantined) and "UnicodeDecodeError" in outcome.reason


def test_automated_mail_is_skipped_with_its_reason(ledger, sink, clock, tmp_path) -> None:
    def auto_reply(email: Email, settings: Settings) -> Email:
        return email.model_copy(update={"automated": "auto_reply", "automated_reason": "Auto-Submitted: auto-replied"})

    outcome = pipeline(ledger, sink, clock, tmp_path, stages=Stages(classify=auto_reply)).process(
        raw_message(make_raw()))
    assert outcome == Skipped(reason="automated (auto_reply): Auto-Submitted: auto-replied")
    assert ledger.get(parse(make_raw()).key).state == "skipped"
    assert sink.calls == []


def test_the_rate_guard_skip_is_recorded(ledger, sink, clock, tmp_path) -> None:
    seen: list[int] = []

    def guard(email: Email, led: Ledger, settings: Settings, now: datetime) -> Skipped | None:
        # The guard reads the ledger: the message being processed is already claimed.
        count = led.count_from_sender(email.requester.email, now - timedelta(minutes=10))
        seen.append(count)
        return Skipped(reason=f"loop: {count} messages in 10 min") if count > 1 else None

    pipe = pipeline(ledger, sink, clock, tmp_path, stages=Stages(check_rate=guard))
    assert isinstance(pipe.process(raw_message(make_raw(body="um\n"))), Created)
    second = pipe.process(raw_message(make_raw(body="dois\n", msgid="<m2@cliente.com.br>")))
    assert second == Skipped(reason="loop: 2 messages in 10 min")
    assert seen == [1, 2]
    assert sink.creates == 1


def test_a_reply_to_an_open_ticket_becomes_a_comment(ledger, sink, clock, tmp_path) -> None:
    def thread(email: Email, led: Ledger, snk: object, settings: Settings) -> Thread | None:
        ticket = led.ticket_for_message_ids([email.in_reply_to] if email.in_reply_to else [])
        return Thread(action="comment", ticket_id=ticket, reason="In-Reply-To") if ticket else None

    pipe = pipeline(ledger, sink, clock, tmp_path, stages=Stages(find_thread=thread))
    created = pipe.process(raw_message(make_raw()))
    reply = EmailMessage()
    reply["From"] = "ana@cliente.com.br"
    reply["To"] = "atendimento.bsorm@totvs.com.br"
    reply["Subject"] = "RE: Erro ao gerar relatório"
    reply["Message-ID"] = "<m2@cliente.com.br>"
    reply["In-Reply-To"] = "<m1@cliente.com.br>"
    reply.set_content("Segue o log.\n")

    outcome = pipe.process(raw_message(reply.as_bytes(), ref="1:2"))
    assert outcome == Commented(ticket_id=created.ticket_id)
    assert sink.calls[-1] == ("comment", parse(reply.as_bytes()).key, created.ticket_id, False)
    assert ledger.get(parse(reply.as_bytes()).key).state == "commented"


def test_a_retried_comment_claim_asks_the_sink_to_look_first(ledger, sink, clock, tmp_path) -> None:
    # Comments have no Idempotency-Key: after a crash between Zendesk taking
    # the comment and the ledger recording it, the sink must check first.
    def thread(email: Email, led: Ledger, snk: object, settings: Settings) -> Thread | None:
        return Thread(action="comment", ticket_id=7, reason="test") if email.in_reply_to else None

    pipe = pipeline(ledger, sink, clock, tmp_path, stages=Stages(find_thread=thread))
    raw = make_raw(msgid="<r1@cliente.com.br>").replace(b"\nSubject:", b"\nIn-Reply-To: <m0@x>\nSubject:", 1)
    key = parse(raw).key
    # A claim left by a run that died: its lease has run out.
    ledger.claim(key, message_id="<r1@cliente.com.br>", sender="ana@cliente.com.br", subject="", ref="1:1",
                 now=clock(), lease_seconds=0)
    assert pipe.process(raw_message(raw)) == Commented(ticket_id=7)
    assert sink.calls[-1] == ("comment", key, 7, True)


def test_a_reply_to_a_closed_ticket_creates_a_followup(ledger, sink, clock, tmp_path) -> None:
    def thread(email: Email, led: Ledger, snk: object, settings: Settings) -> Thread:
        return Thread(action="followup", ticket_id=321, reason="ticket 321 is closed")

    outcome = pipeline(ledger, sink, clock, tmp_path, stages=Stages(find_thread=thread)).process(
        raw_message(make_raw()))
    assert isinstance(outcome, Created)
    assert sink.calls == [("create", parse(make_raw()).key, False, 321, None)]


def test_routing_decides_the_ticket_the_sink_gets(ledger, sink, clock, tmp_path) -> None:
    def to_group_7(email: Email, settings: Settings, account: object) -> Route:
        return Route(group_id=7, rule="test")

    pipeline(ledger, sink, clock, tmp_path, stages=Stages(route=to_group_7)).process(raw_message(make_raw()))
    assert sink.calls[0][-1] == 7


def test_a_ledger_failure_propagates_instead_of_quarantining(tmp_path, sink, clock) -> None:
    led = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    pipe = pipeline(led, sink, clock, tmp_path)
    led.close()
    (tmp_path / "ledger.sqlite3").unlink()
    (tmp_path / "ledger.sqlite3").mkdir()  # the file is gone and cannot come back
    with pytest.raises(LedgerError):
        pipe.process(raw_message(make_raw()))
    assert sink.calls == []


def test_each_outcome_is_logged_on_one_line(ledger, sink, clock, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ingest.pipeline")
    outcome = pipeline(ledger, sink, clock, tmp_path).process(raw_message(make_raw(), ref="3:8"))
    [record] = [r for r in caplog.records if r.name == "ingest.pipeline"]
    line = record.getMessage()
    assert "\n" not in line
    assert line.startswith("created ")
    for part in (parse(make_raw()).key, "<m1@cliente.com.br>", "test uid 3:8", f"ticket={outcome.ticket_id}"):
        assert part in line


def test_dry_run_writes_no_ledger(tmp_path, sink, clock) -> None:
    settings = settings_for(tmp_path, dry_run=True)
    pipe = build_pipeline(settings, sink=sink, now=clock)
    try:
        first = pipe.process(raw_message(make_raw()))
        again = pipe.process(raw_message(make_raw()))
    finally:
        pipe.close()
    assert isinstance(first, Created) and again == first
    assert sink.creates == 1  # the in-memory ledger still dedupes within the run
    assert not (tmp_path / "var").exists()


def test_dry_run_can_be_forced_over_the_settings(tmp_path, sink, clock) -> None:
    pipe = build_pipeline(settings_for(tmp_path, dry_run=False), sink=sink, now=clock, dry_run=True)
    try:
        pipe.process(raw_message(make_raw()))
        assert pipe.settings.service.dry_run is True
    finally:
        pipe.close()
    assert not (tmp_path / "var").exists()


def test_a_real_run_opens_the_ledger_file_from_settings(tmp_path, sink, clock) -> None:
    pipe = build_pipeline(settings_for(tmp_path), sink=sink, now=clock)
    try:
        outcome = pipe.process(raw_message(make_raw()))
    finally:
        pipe.close()
    reopened = Ledger.from_url(f"sqlite:///{tmp_path / 'var' / 'ledger.sqlite3'}")
    try:
        assert reopened.get(parse(make_raw()).key).ticket_id == outcome.ticket_id
    finally:
        reopened.close()


def test_a_released_quarantine_is_processed_again(ledger, sink, clock, tmp_path) -> None:
    sink.errors.append(ZendeskRejected("refused", status=422, details={"base": ["invalid"]}))
    pipe = pipeline(ledger, sink, clock, tmp_path)
    msg = raw_message(make_raw())
    key = parse(msg.raw).key
    assert isinstance(pipe.process(msg), Quarantined)

    # `quarantine replay` a day later: released, then fetched again.
    clock.advance(timedelta(days=1))
    assert ledger.release(key, clock())
    outcome = pipe.process(msg)
    assert isinstance(outcome, Created)
    # The first try is older than the Idempotency-Key: look the ticket up first.
    assert sink.calls[-1] == ("create", key, True, None, None)
    assert ledger.get(key).state == "created"


def test_a_message_another_owner_holds_is_deferred_without_an_attempt(ledger, sink, clock, tmp_path) -> None:
    raw = make_raw()
    key = parse(raw).key
    # Another process (a `send` beside the service) holds a live lease on it.
    other = ledger.claim(key, message_id="<m1@cliente.com.br>", sender="ana@cliente.com.br", subject="", ref="1:1",
                         now=clock())
    pipe = pipeline(ledger, sink, clock, tmp_path)
    for _ in range(5):  # more than max_attempts: a busy message is never counted
        outcome = pipe.process(raw_message(raw))
        assert outcome == Deferred("in progress elsewhere", elsewhere=True)
    assert sink.calls == []
    assert ledger.get(key).attempts == 0

    ledger.record(other.lease, Created(ticket_id=4), clock())
    assert pipe.process(raw_message(raw)) == Created(ticket_id=4)
    assert sink.calls == []


def test_an_error_that_stops_the_service_frees_the_lease_for_the_next_run(ledger, sink, clock, tmp_path) -> None:
    raw = make_raw()
    sink.errors.append(ZendeskAuthError("401", 401))
    with pytest.raises(ZendeskAuthError):
        pipeline(ledger, sink, clock, tmp_path).process(raw_message(raw))
    row = ledger.get(parse(raw).key)
    assert (row.state, row.lease_owner, row.attempts) == ("claimed", None, 0)
    assert isinstance(pipeline(ledger, sink, clock, tmp_path).process(raw_message(raw)), Created)
