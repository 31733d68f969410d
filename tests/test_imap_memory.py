"""IMAP in bounded memory: batches by bytes, a message too large quarantined unread, no trace copies."""
from __future__ import annotations

import email.policy
import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.emulator import Emulator
from ingest.service import EXIT_OK
from ingest.settings import ImapSettings
from ingest.sources.imap import ImapSource, open_client, plan_batches
from tests.dovecot import DovecotServer, dovecot, dovecot_server, service_env, support_mail  # noqa: F401
from tests.test_imap_service import cli
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

MB = 1024 * 1024


def test_batches_are_bounded_by_count_and_bytes_and_a_big_message_goes_alone() -> None:
    sizes = {1: 10, 2: 10, 3: 500, 4: 10, 5: 10, 6: 10, 7: 10}
    assert list(plan_batches([1, 2, 3, 4, 5, 6, 7], sizes, count=3, max_bytes=100)) == [
        [1, 2], [3], [4, 5, 6], [7]
    ]
    assert list(plan_batches([], {}, count=3, max_bytes=100)) == []


def big_mail(n: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Cliente {n} <video{n}@empresa.com.br>"
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = f"Video {n}"
    msg["Message-ID"] = f"<video-{n}@empresa.com.br>"
    msg.set_content("Segue o video.\n")
    msg.add_attachment(os.urandom(size), maintype="video", subtype="mp4", filename="erro.mp4")
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.mark.dovecot
def test_imaplib_trace_is_off_unless_asked(dovecot: DovecotServer) -> None:
    quiet = open_client(ImapSettings(**dovecot.settings()))  # type: ignore[arg-type]
    traced = open_client(ImapSettings(**dovecot.settings(trace=True)))  # type: ignore[arg-type]
    try:
        # imapclient sets 5, which makes imaplib format every FETCH answer for its log.
        assert quiet._imap.debug == 0
        assert traced._imap.debug == 5
    finally:
        quiet.logout()
        traced.logout()


@pytest.mark.dovecot
def test_sizes_come_first_and_each_fetch_stays_within_the_batch_bytes(dovecot: DovecotServer) -> None:
    mails = [big_mail(n, 300_000) for n in range(1, 6)]
    dovecot.append(mails)
    source = ImapSource(ImapSettings(**dovecot.settings(batch_bytes=900_000, batch_size=50)))  # type: ignore[arg-type]
    asked: list[int] = []
    source.set_gate(asked.append)
    try:
        got = [msg.raw for msg in source.fetch()]
    finally:
        source.close()
    assert got == mails
    # ~410 kB each: two per FETCH under 900 kB, announced to the gate before each.
    assert len(asked) == 3 and all(n <= 900_000 for n in asked[:2]) and sum(asked) == sum(len(m) for m in mails)


@pytest.mark.dovecot
def test_a_message_over_max_message_bytes_is_quarantined_unread_and_the_mail_behind_it_goes_on(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    too_big = big_mail(1, int(1.2 * MB))
    dovecot.append([too_big, support_mail(2), support_mail(3)])
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, imap__max_message_bytes=str(MB))

    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    summary = capsys.readouterr().out
    assert "created=2" in summary and "quarantined=1" in summary
    assert len(zendesk_emulator.tickets) == 2
    assert not any(r.path.startswith("/api/v2/uploads") for r in zendesk_emulator.requests)
    assert dovecot.folder_uids("INBOX") == []
    assert dovecot.folder_messages("BSO/Quarantine") == [too_big]  # filed whole, untouched

    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK  # nothing left, nothing repeated
    assert cli(env, monkeypatch, "quarantine", "list", "--json") == 0
    listed = capsys.readouterr().out
    assert "over imap.max_message_bytes" in listed and "<video-1@empresa.com.br>" in listed


@pytest.mark.dovecot
def test_a_message_that_runs_out_of_memory_while_fetched_is_handed_over_unread(dovecot: DovecotServer) -> None:
    mails = [support_mail(n) for n in range(1, 5)]
    dovecot.append(mails)
    huge_uid = dovecot.folder_uids("INBOX")[1]

    def connect(settings: ImapSettings):  # type: ignore[no-untyped-def]
        client = open_client(settings)
        real_fetch = client.fetch

        def fetch(uids, items, *args, **kwargs):  # type: ignore[no-untyped-def]
            if "BODY.PEEK[]" in items and huge_uid in uids:
                raise MemoryError  # as a message too large for this process would
            return real_fetch(uids, items, *args, **kwargs)

        client.fetch = fetch  # type: ignore[method-assign]
        return client

    source = ImapSource(ImapSettings(**dovecot.settings()), connect=connect)  # type: ignore[arg-type]
    try:
        got = list(source.fetch())
        again = list(source.fetch())  # the next poll does not try to download it again
    finally:
        source.close()
    for batch in (got, again):
        assert [m.raw for m in batch if not m.unread] == [mails[0], *mails[2:]]
        unread = [m for m in batch if m.unread]
        assert len(unread) == 1 and "out of memory" in unread[0].unread
        assert unread[0].raw.startswith(b"From:") and b"Pedido de suporte 2" in unread[0].raw
        assert len(unread[0].raw) < len(mails[1])  # the header block only
