"""Threading end to end: real parser, real ledger, the Pipeline and the Zendesk emulator over HTTP.

What ended up in Zendesk is what is asserted: which ticket got the comment,
who authored it, and the follow-up link of a reply to a closed ticket.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from ingest.emulator import Emulator
from ingest.ledger import Ledger
from ingest.outcomes import Commented, Created
from ingest.pipeline import Pipeline
from ingest.sink import build_sink
from ingest.source import RawMessage
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)
SUPPORT = "atendimento.bsorm@totvs.com.br"


@pytest.fixture
def emulator(zendesk_emulator: Emulator) -> Emulator:
    return zendesk_emulator


@pytest.fixture
def pipeline(emulator: Emulator) -> Iterator[Pipeline]:
    # OAuth or not, comments are Tickets API safe updates in the sender's name.
    settings = emulator_settings(emulator, oauth=True)
    pipe = Pipeline(Ledger.in_memory(), build_sink(settings, sleep=lambda s: None), settings, now=lambda: T0)
    yield pipe
    pipe.close()


def send(pipe: Pipeline, subject: str, body: str, *, sender: str = "fernanda@agro-exemplo.com.br",
         msgid: str, in_reply_to: str | None = None) -> Created | Commented:
    msg = EmailMessage()
    msg["From"] = f"Cliente <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = msgid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    outcome = pipe.process(RawMessage(raw=msg.as_bytes(), ref=msgid))
    assert isinstance(outcome, (Created, Commented)), outcome
    return outcome


REPLY = """Conforme solicitado: o erro acontece somente na filial 02.

Em qua., 25 de nov. de 2026 às 10:02, Atendimento BSO <atendimento.bsorm@totvs.com.br> escreveu:

> Poderia nos enviar o log de execução da rotina?
> Equipe de Atendimento BSO RM
"""


def test_a_reply_by_header_is_a_public_comment_authored_by_the_sender(pipeline: Pipeline, emulator: Emulator) -> None:
    first = send(pipeline, "Divergência no SPED", "O bloco C170 diverge.", msgid="<orig-1@agro>")
    reply = send(pipeline, "Re: Divergência no SPED", "Segue o log.", msgid="<reply-1@agro>",
                 in_reply_to="<orig-1@agro>")
    assert isinstance(reply, Commented) and reply.ticket_id == first.ticket_id
    assert len(emulator.tickets) == 1
    comment = emulator.tickets[first.ticket_id].comments[-1]
    author = emulator.users[comment.author_id]
    assert comment.public and author.email == "fernanda@agro-exemplo.com.br"
    # Posted by our API agent in the sender's name, marked with the message's key.
    assert "bso_ingest_key" in emulator.tickets[first.ticket_id].audits[-1].custom


def test_a_reply_by_subject_from_the_requester_threads(pipeline: Pipeline, emulator: Emulator) -> None:
    first = send(pipeline, "Divergência no SPED", "O bloco C170 diverge.", msgid="<orig-2@agro>")
    reply = send(pipeline, f"RES: [Chamado {first.ticket_id}] Divergência no SPED", "Ainda diverge.",
                 msgid="<reply-2@agro>")
    assert isinstance(reply, Commented) and reply.ticket_id == first.ticket_id


def test_a_stranger_naming_the_ticket_in_the_subject_gets_a_new_ticket(pipeline: Pipeline, emulator: Emulator) -> None:
    first = send(pipeline, "Divergência no SPED", "O bloco C170 diverge.", msgid="<orig-3@agro>")
    other = send(pipeline, f"Re: [Chamado {first.ticket_id}] Divergência", "Quero ver este chamado.",
                 sender="intruso@outra-empresa.com", msgid="<intruder@outra>")
    assert isinstance(other, Created) and other.ticket_id != first.ticket_id
    assert len(emulator.tickets[first.ticket_id].comments) == 1
    assert f"mentions_ticket_{first.ticket_id}" in emulator.tickets[other.ticket_id].tags
    assert not any(t.startswith("mentions_ticket_") for t in emulator.tickets[first.ticket_id].tags)


def test_a_reply_to_a_closed_ticket_is_a_linked_followup(pipeline: Pipeline, emulator: Emulator) -> None:
    first = send(pipeline, "Divergência no SPED", "O bloco C170 diverge.", msgid="<orig-4@agro>")
    emulator.tickets[first.ticket_id].status = "closed"  # an agent closed it
    again = send(pipeline, "Re: Divergência no SPED", "Voltou a acontecer.", msgid="<reply-4@agro>",
                 in_reply_to="<orig-4@agro>")
    assert isinstance(again, Created) and again.ticket_id != first.ticket_id
    assert emulator.tickets[again.ticket_id].via_followup_source_id == first.ticket_id


def test_the_comment_has_no_quoted_history(pipeline: Pipeline, emulator: Emulator) -> None:
    first = send(pipeline, "Divergência no SPED", "O bloco C170 diverge.", msgid="<orig-5@agro>")
    send(pipeline, "Re: Divergência no SPED", REPLY, msgid="<reply-5@agro>", in_reply_to="<orig-5@agro>")
    body = emulator.tickets[first.ticket_id].comments[-1].body
    assert "o erro acontece somente na filial 02" in body
    assert "Poderia nos enviar o log" not in body and "escreveu:" not in body
