"""Threading: headers through a real ledger, subjects, who may reply, closed -> follow-up, merged, refused."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timezone

import pytest

from ingest.errors import TicketRefused, ZendeskForbidden
from ingest.ledger import Ledger
from ingest.outcomes import Created
from ingest.settings import Settings
from ingest.sink import TicketInfo, UserFacts
from ingest.replies import Thread, find_thread, mention_tags, mentioned_ticket, refusal_fallback
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
    merged_into: dict[int, int] = field(default_factory=dict)
    organizations: dict[str, int] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)
    hidden: set[int] = field(default_factory=set)

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        self.asked.append(ticket_id)
        if ticket_id in self.hidden:
            raise ZendeskForbidden(f"GET /api/v2/tickets/{ticket_id}.json: 403 Forbidden", 403)
        return self.tickets.get(ticket_id)

    def merge_target(self, ticket_id: int) -> int | None:
        return self.merged_into.get(ticket_id)

    def user_facts(self, address: str) -> UserFacts | None:
        address = address.lower()
        if address in self.agents:
            return UserFacts(role="agent")
        if address in self.organizations:
            return UserFacts(role="end-user", organization_id=self.organizations[address])
        return None


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
         ccs: tuple[str, ...] = (), org: int | None = None, tags: tuple[str, ...] = ()) -> TicketInfo:
    return TicketInfo(id=ticket_id, status=status, requester_email=requester, cc_emails=list(ccs),
                      organization_id=org, tags=list(tags))


def test_in_reply_to_known_message_id_threads_as_comment(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501)})
    thread = find_thread(mail(subject="Re: Erro", in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("comment", 501)


def test_references_thread_a_colleague_of_the_requester(ledger: Ledger) -> None:
    # Same company domain as the requester: one conversation.
    sink = FakeTickets({501: info(501)})
    email = mail(sender="joao@cliente.com.br", references=["<other@x>", "<orig@cliente.com.br>"])
    thread = find_thread(email, ledger, sink, SETTINGS)
    assert isinstance(thread, Thread) and (thread.action, thread.ticket_id) == ("comment", 501)
    assert "In-Reply-To/References" in thread.reason and "domain" in thread.reason


def test_a_stranger_replying_by_headers_gets_a_new_ticket_tagged_with_the_ticket(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    # Knowing a Message-ID proves nothing: it is in every copy of the mail.
    sink = FakeTickets({501: info(501)})
    with caplog.at_level(logging.WARNING, logger="ingest.replies"):
        thread = find_thread(mail(sender="intruso@outro.com", in_reply_to="<orig@cliente.com.br>"), ledger, sink,
                             SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id, thread.tags) == (
        "new", 501, ("mentions_ticket_501",))
    assert "intruso@outro.com" in caplog.text


def test_a_shared_public_domain_proves_nothing(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501, requester="ana.cliente@gmail.com")})
    thread = find_thread(mail(sender="someone@gmail.com", in_reply_to="<orig@cliente.com.br>"), ledger, sink,
                         SETTINGS)
    assert thread is not None and thread.action == "new"


def test_same_organization_and_domain_are_configurable(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501, org=42)}, organizations={"maria@filial.com.br": 42})
    email = mail(sender="maria@filial.com.br", in_reply_to="<orig@cliente.com.br>")
    thread = find_thread(email, ledger, sink, SETTINGS)
    assert thread is not None and thread.action == "comment" and "organization 42" in thread.reason
    strict = Settings(threading={"allow_same_organization": False, "allow_same_domain": False,
                                 "allow_agents": False})
    assert find_thread(email, ledger, sink, strict).action == "new"
    colleague = mail(sender="joao@cliente.com.br", in_reply_to="<orig@cliente.com.br>")
    assert find_thread(colleague, ledger, sink, strict).action == "new"
    assert find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, sink, strict).action == "comment"


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


def test_a_deleted_ticket_gives_a_new_ticket_tagged_so(ledger: Ledger) -> None:
    thread = find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, FakeTickets(), SETTINGS)
    assert thread is not None and (thread.action, thread.tags) == ("new", ("mentions_ticket_501", "bso_reply_gone"))


def test_a_ticket_our_agent_may_not_see_gives_a_new_ticket_not_an_auth_failure(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501)}, hidden={501})
    thread = find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.tags) == (
        "new", ("mentions_ticket_501", "bso_reply_forbidden"))


def test_a_merged_ticket_threads_into_its_target(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501, status="closed", tags=("closed_by_merge",)), 900: info(900, requester="x@y.z")},
                       merged_into={501: 900})
    thread = find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.ticket_id) == ("comment", 900)
    assert "merged into 900" in thread.reason
    # Zendesk does not say where: a follow-up of the merged (closed) ticket.
    nowhere = FakeTickets({501: info(501, status="closed", tags=("closed_by_merge",))})
    assert find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, nowhere, SETTINGS).action == "followup"


@pytest.mark.parametrize(("why", "merged_into", "expected"), [
    ("forbidden", None, ("new", 501, ("mentions_ticket_501", "bso_reply_forbidden"))),
    ("gone", None, ("new", 501, ("mentions_ticket_501", "bso_reply_gone"))),
    ("closed", None, ("followup", 501, ())),
    ("merged", 900, ("comment", 900, ())),
    ("merged", None, ("followup", 501, ())),
])
def test_a_refused_comment_falls_back_per_reason(why: str, merged_into: int | None, expected: tuple) -> None:
    fallback = refusal_fallback(TicketRefused(501, why, f"ticket 501: {why}", merged_into=merged_into), mail())
    assert (fallback.action, fallback.ticket_id, fallback.tags) == expected
    assert "501" in fallback.reason


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
    with caplog.at_level(logging.WARNING, logger="ingest.replies"):
        thread = find_thread(email, ledger, sink, SETTINGS)
    assert thread is not None and (thread.action, thread.tags) == ("new", ("mentions_ticket_77",))
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
    assert find_thread(email, ledger, someone_elses, SETTINGS).action == "new"


def test_a_reused_message_id_resolves_to_the_first_ticket_and_is_recorded_once(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    # A stranger's mail reuses the customer's Message-ID (other content: other key).
    with caplog.at_level(logging.WARNING, logger="ingest.ledger"):
        stranger = ledger.claim("stranger", message_id="<orig@cliente.com.br>", sender="intruso@outro.com",
                                subject="x", ref="2", now=T0)
        ledger.record(stranger.lease, Created(ticket_id=777), T0)
        ledger.claim("stranger", message_id="<orig@cliente.com.br>", sender="intruso@outro.com", subject="x",
                     ref="3", now=T0)  # seen again: no second log line
    assert caplog.text.count("Message-ID collision") == 1
    assert ledger.get("stranger").collides_with == "orig"
    # The customer's next reply goes to the customer's ticket, never the stranger's.
    assert ledger.ticket_for_message_ids(["<orig@cliente.com.br>"]) == 501
    sink = FakeTickets({501: info(501), 777: info(777, requester="intruso@outro.com")})
    thread = find_thread(mail(in_reply_to="<orig@cliente.com.br>"), ledger, sink, SETTINGS)
    assert (thread.action, thread.ticket_id) == ("comment", 501)


def test_the_direct_parent_wins_over_older_references(ledger: Ledger) -> None:
    # The customer's reply to a follow-up of closed ticket 501 belongs to the follow-up.
    followup = ledger.claim("fu", message_id="<fu@cliente.com.br>", sender="ana@cliente.com.br", subject="s",
                            ref="4", now=T0)
    ledger.record(followup.lease, Created(ticket_id=620), T0)
    ids = ["<fu@cliente.com.br>", "<orig@cliente.com.br>"]
    assert ledger.ticket_for_message_ids(ids) == 620
    email = mail(in_reply_to="<fu@cliente.com.br>", references=["<orig@cliente.com.br>", "<fu@cliente.com.br>"])
    sink = FakeTickets({501: info(501, status="closed"), 620: info(620)})
    assert find_thread(email, ledger, sink, SETTINGS).ticket_id == 620


def test_an_agent_answering_by_mail_threads(ledger: Ledger) -> None:
    sink = FakeTickets({501: info(501)}, agents={"suporte@totvs.com.br"})
    thread = find_thread(mail(sender="suporte@totvs.com.br", in_reply_to="<orig@cliente.com.br>"), ledger, sink,
                         SETTINGS)
    assert thread.action == "comment" and "agent" in thread.reason
    no_agents = Settings(threading={"allow_agents": False})
    assert find_thread(mail(sender="suporte@totvs.com.br", in_reply_to="<orig@cliente.com.br>"), ledger, sink,
                       no_agents).action == "new"
