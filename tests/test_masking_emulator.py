"""CPF/CNPJ masking end to end: what reached the Zendesk emulator carries no valid number.

Off by default: then the ticket holds the text as written.
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage

from ingest.emulator import Emulator
from ingest.ledger import Ledger
from ingest.outcomes import Commented, Created
from ingest.pipeline import Pipeline
from ingest.sink import build_sink
from ingest.source import RawMessage
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)


def mail(subject: str, body: str, msgid: str, in_reply_to: str | None = None) -> RawMessage:
    msg = EmailMessage()
    msg["From"] = "Ana <ana@cliente.com.br>"
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return RawMessage(raw=msg.as_bytes(), ref=msgid)


def pipeline(emulator: Emulator, mask: bool | None) -> Pipeline:
    security = {} if mask is None else {"mask_documents": mask}
    settings = emulator_settings(emulator, oauth=True, security=security)
    return Pipeline(Ledger.in_memory(), build_sink(settings, sleep=lambda s: None), settings, now=lambda: T0)


def test_subject_description_and_comments_are_masked(zendesk_emulator: Emulator) -> None:
    pipe = pipeline(zendesk_emulator, mask=True)
    created = pipe.process(mail("CPF 529.982.247-25 sem férias", "A funcionária CPF 529.982.247-25, filial CNPJ"
                                " 11.222.333/0001-81, versão 12.1.2410.", "<m1@cliente.com.br>"))
    assert isinstance(created, Created)
    reply = pipe.process(mail("Re: x", "Novo CNPJ 12.ABC.345/01DE-35.", "<m2@cliente.com.br>", "<m1@cliente.com.br>"))
    assert isinstance(reply, Commented) and reply.ticket_id == created.ticket_id
    ticket = zendesk_emulator.tickets[created.ticket_id]
    assert ticket.subject == "CPF ***.***.247-25 sem férias"
    texts = " ".join(c.body for c in ticket.comments)
    for number in ("529.982.247-25", "11.222.333/0001-81", "12.ABC.345/01DE-35"):
        assert number not in texts and number not in ticket.subject
    assert "***.***.247-25" in texts and "**.***.***/0001-81" in texts and "**.***.***/01DE-35" in texts
    assert "versão 12.1.2410" in texts
    pipe.close()


def test_off_by_default(zendesk_emulator: Emulator) -> None:
    pipe = pipeline(zendesk_emulator, mask=None)
    created = pipe.process(mail("CPF 529.982.247-25", "CPF 529.982.247-25", "<m3@cliente.com.br>"))
    assert isinstance(created, Created)
    assert zendesk_emulator.tickets[created.ticket_id].subject == "CPF 529.982.247-25"
    pipe.close()
