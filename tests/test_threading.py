"""Threading: headers through a real ledger, subjects with the sender check, closed -> follow-up."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timezone

import pytest

from ingest.ledger import Ledger
from ingest.outcomes import Created
from ingest.settings import Settings
from ingest.sink import TicketInfo
from ingest.threading import Thread, find_thread, mention_tags, mentioned_ticket
from parsers import parse
from parsers.model import Address, Email
from tests.conftest import corpus_dir

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SETTINGS = Settings()


@dataclass
class FakeTickets:
    """The Sink's ticket() lookup, over a dict; records which tickets were asked for."""

    tickets: dict[int, TicketInfo] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        self.asked.append(ticket_id)
        return self.tickets.get(ticket_id)


def mail(subject: str = "Erro na folha", sender: str = "ana@cliente.com.br", in_reply_to: str | None = None,
         references: list[str] | None = None) -> Email:
    return Email(key=f"k-{subject}-{sender}", message_id="<new@cliente.com.br>", requester=Address(email=sender),
                 subject=subject, in_reply_to=in_reply_to, references=references or [])


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger.in_memory()
    # The original message, recorded with its ticket.
    lease = led.claim("orig", message_id="<orig@cliente.com.br>", sender="ana@cliente.com.br", subject="Erro", ref="1",
                      now=T0).lease
    led.record(lease, Created(ticket_id=501), T0)
    yield led
    led.close()


def info(ticket_id: int, status: str = "open", requester: str = "ana@cliente.com.br",
         ccs: tuple[str, ...] = ()) -> TicketInfo:
    return TicketInfo(id=ticket_id, status=status, requester_email=requester, cc_emails=list(ccs))


def test_in_reply_to_known_message_id_threads_as_comment(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501)})
    thread = find_thread(mail(subject="Re: Erro", in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("comment", 501)


def test_references_thread_too_whoever_replies(ledger: Ledger) -> None:
    # A colleague answering the thread: Message-IDs are not guessable, no sender check.
    sink = FakeTickets({501: info(501)})
    email = mail(sender="joao@cliente.com.br", references=["<other@x>", "<orig@cliente.com.br>"])
    thread = find_thread(email, ledger, sink, SETTINGS)
    assert isinstance(thread, Thread) and (thread.action, thread.ticket_id) == ("comment", 501)
    assert "In-Reply-To/References" in thread.reason


def test_header_match_on_a_closed_ticket_is_a_followup(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501, status="closed")})
    thread = find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("followup", 501)


def test_solved_tickets_take_the_comment(ledger: Ledger) -> None:
    # Zendesk reopens a solved ticket on a comment; only closed ones refuse updates.
    sink = FakeTickets({501: info(501, status="solved")})
    thread = find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert thread is not None and thread.action == "comment"


def test_unknown_message_ids_do_not_thread(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501)})
    assert find_thread(mail(in_reply_to="<nope@x>"), ledger, sink, SETTINGS) is None
    assert sink.asked == []


def test_a_deleted_ticket_does_not_thread(ledger: Ledger) -> None:
    assert find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, FakeTickets(), SETTINGS) is None


@pytest.mark.parametrize(
    "subject, number",
    [
        ("Re: [BSO #77] Erro na folha", 77),
        ("RES: Ticket #77 ainda aberto", 77),
        ("Resp: [Chamado 77] Erro", 77),
        ("ENC: Enc: Fw: Chamado: #77 - erro", 77),
        ("Fwd: TR: chamado 77", 77),
        ("Re: [Chamado 18273645] Divergência no bloco C170 do SPED Fiscal", 18273645),
    ],
)
def test_subject_patterns_behind_the_prefixes(ledger: Ledger, subject: str, number: int) -> None:
    sink = FakeTickets({number: info(number)})
    thread = find_thread(mail(subject=subject), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("comment", number)
    assert mentioned_ticket(mail(subject=subject), SETTINGS) == number


def test_a_cc_may_answer_by_subject(ledger: Ledger) -> None:
    sink = FakeTickets({77: info(77, ccs=("Joao@Cliente.com.br",))})
    thread = find_thread(mail(subject="Re: [Chamado 77] Erro", sender="joao@cliente.com.br"), ledger, sink, SETTINGS)
    assert thread is not None and thread.ticket_id == 77


def test_a_stranger_naming_a_ticket_gets_a_new_ticket_tagged_with_the_number(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FakeTickets({77: info(77)})
    email = mail(subject="Re: [Chamado 77] Erro", sender="intruso@outro.com")
    with caplog.at_level(logging.WARNING, logger="ingest.threading"):
        assert find_thread(email, ledger, sink, SETTINGS) is None
    assert "intruso@outro.com" in caplog.text and "77" in caplog.text
    assert mention_tags(email, SETTINGS) == ["mentions_ticket_77"]


def test_subject_match_on_a_closed_ticket_is_a_followup(ledger: Ledger) -> None:
    sink = FakeTickets({77: info(77, status="closed")})
    thread = find_thread(mail(subject="Re: [Chamado 77] Erro"), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("followup", 77)


def test_no_number_no_thread_no_tag(ledger: Ledger) -> None:
    email = mail(subject="Re: Erro na folha de 2026")
    assert find_thread(email, ledger, FakeTickets(), SETTINGS) is None
    assert mention_tags(email, SETTINGS) == []


def test_patterns_come_from_settings(ledger: Ledger) -> None:
    settings = Settings(threading={"subject_patterns": [r"\bCase (\d+)\b"]})
    sink = FakeTickets({9: info(9)})
    assert find_thread(mail(subject="Re: Case 9"), ledger, sink, settings) is not None
    assert find_thread(mail(subject="Re: [Chamado 9]"), ledger, sink, settings) is None


def _ptbr(name: str) -> Path:
    return corpus_dir("ptbr") / f"{name}.eml"


@pytest.mark.parametrize("name", ["d02_gmail_reply_quoted", "d03_outlook_res_reply"])
def test_ptbr_replies_thread_by_subject_only_for_their_requester(ledger: Ledger, name: str) -> None:
    email = parse(_ptbr(name).read_bytes())
    number = mentioned_ticket(email, SETTINGS)
    assert number is not None
    theirs = FakeTickets({number: info(number, requester=email.requester.email)})
    thread = find_thread(email, ledger, theirs, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("comment", number)
    someone_elses = FakeTickets({number: info(number, requester="outra@empresa.com.br")})
    assert find_thread(email, ledger, someone_elses, SETTINGS) is None
