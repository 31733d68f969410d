"""A disguised executable never reaches Zendesk: parser, pipeline, sink and the emulator over HTTP.

The mail still becomes a ticket; the comment names the file left out and why.
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage

from ingest.emulator import Emulator
from ingest.ledger import Ledger
from ingest.outcomes import Created
from ingest.pipeline import Pipeline
from ingest.sink import build_sink
from ingest.source import RawMessage
from tests.test_attachment_safety import PDF, PNG, pe
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)


def test_a_disguised_executable_is_left_out_and_the_mail_still_becomes_a_ticket(
    zendesk_emulator: Emulator,
) -> None:
    settings = emulator_settings(zendesk_emulator)
    pipe = Pipeline(Ledger.in_memory(), build_sink(settings, sleep=lambda s: None), settings, now=lambda: T0)
    msg = EmailMessage()
    msg["From"] = "Ana <ana@cliente.com.br>"
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = "Nota fiscal"
    msg["Message-ID"] = "<att-1@cliente.com.br>"
    msg.set_content("Segue a nota e o print.")
    msg.add_attachment(pe(), maintype="application", subtype="pdf", filename="nota_fiscal.pdf")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="boleto.pdf")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="print.png")
    msg.add_attachment(b"Write-Host hi", maintype="text", subtype="plain", filename="fix.ps1")
    msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename="evil.exe::$DATA")
    outcome = pipe.process(RawMessage(raw=msg.as_bytes(), ref="att-1"))
    assert isinstance(outcome, Created)
    comment = zendesk_emulator.tickets[outcome.ticket_id].comments[0]
    uploaded = {f.file_name: f.content for f in comment.attachments}
    assert uploaded == {"boleto.pdf": PDF, "print.png": PNG}
    assert not any(content.startswith(b"MZ") for content in uploaded.values())
    assert "nota_fiscal.pdf: it is really .exe" in comment.body
    assert "fix.ps1: file type .ps1 is blocked" in comment.body
    assert "evil.exe::$DATA: file type .exe is blocked" in comment.body
    pipe.close()
