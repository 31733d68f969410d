"""Concurrent drain end to end: Dovecot, the emulator (slow answers), `bso-ingest run --once`.

A reply and its original arrive in the same batch.  With several messages in
flight the reply must still wait for its original's ticket and become a
comment on it, not a second ticket; one sender's mails keep their order.
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from ingest.emulator import Emulator, Faults
from ingest.service import EXIT_OK
from tests.dovecot import DovecotServer, dovecot, dovecot_server, service_env, support_mail  # noqa: F401
from tests.test_imap_service import cli
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot

SUPPORT = "atendimento.bsorm@totvs.com.br"
T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)


def mail(sender: str, msgid: str, body: str, *, cc: str = "", in_reply_to: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = ("Re: " if in_reply_to else "") + "Erro no cálculo da folha"
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = msgid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def test_a_reply_in_the_same_batch_as_its_original_becomes_a_comment(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = mail("Fernanda <fernanda@agro-exemplo.com.br>", "<orig-1@agro-exemplo.com.br>",
                    "O cálculo da folha falha na filial 02.", cc="Paulo <paulo@agro-exemplo.com.br>")
    # The CC'd colleague answers: another sender, so only the reply rule orders it.
    reply = mail("Paulo <paulo@agro-exemplo.com.br>", "<reply-1@agro-exemplo.com.br>",
                 "Acontece também na filial 03.", in_reply_to="<orig-1@agro-exemplo.com.br>")
    second = mail("Fernanda <fernanda@agro-exemplo.com.br>", "<reply-2@agro-exemplo.com.br>",
                  "Segue o log.", in_reply_to="<reply-1@agro-exemplo.com.br>")
    others = [support_mail(n) for n in range(1, 7)]
    dovecot.append([original, reply, *others[:3], second, *others[3:]])
    # Slow answers keep the original's POST in flight while the reply is read.
    zendesk_emulator.set_faults(Faults(latency=0.3))
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, service__concurrency="8", imap__batch_size="50")

    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK

    tickets = list(zendesk_emulator.tickets.values())
    assert len(tickets) == 7, [t.subject for t in tickets]  # the original and the six others
    thread = [t for t in tickets if "filial 02" in t.comments[0].body]
    assert len(thread) == 1
    bodies = [c.body for c in thread[0].comments]
    assert len(bodies) == 3
    assert "filial 03" in bodies[1] and "Segue o log" in bodies[2]
    assert dovecot.folder_uids("INBOX") == []
    # The requests overlapped: serially, each POST arrives only after the
    # previous one's 0.3 s answer; here some arrive while another is in flight.
    arrivals = sorted(r.at for r in zendesk_emulator.requests if r.method == "POST" and "tickets" in r.path)
    assert len(arrivals) == 7
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) < 0.3
