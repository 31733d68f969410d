"""The IMAP source against a real Dovecot (tests/dovecot.py)."""
from __future__ import annotations

import threading
import time

import pytest
from imapclient import SEEN

from ingest.errors import AckError, FetchError, SourceError
from ingest.outcomes import Commented, Created, Deferred, Quarantined, Skipped
from ingest.settings import ImapSettings
from ingest.sources.imap import ImapSource
from tests.dovecot import DovecotServer, dovecot, dovecot_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.dovecot

MAIL = (
    "From: Ana Lima <ana@cliente.com.br>\r\nTo: suporte@example.com\r\nSubject: Pedido {n}\r\n"
    "Message-ID: <pedido-{n}@cliente.com.br>\r\n\r\nCorpo do pedido {n}.\r\n"
)


def message(n: int) -> bytes:
    return MAIL.format(n=n).encode()


def source_for(server: DovecotServer, **overrides: object) -> ImapSource:
    return ImapSource(ImapSettings(**server.settings(**overrides)))


def test_fetch_reads_seen_and_unseen_mail_without_marking_it(dovecot: DovecotServer) -> None:
    dovecot.append([message(1)])
    dovecot.append([message(2)], flags=(SEEN,))  # someone opened it in Outlook
    source = source_for(dovecot, batch_size=1)
    try:
        fetched = list(source.fetch())
    finally:
        source.close()
    assert [m.raw for m in fetched] == [message(1), message(2)]
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        # BODY.PEEK[]: the unread one is still unread.
        assert client.search(["UNSEEN"]) == [int(fetched[0].ref.split(":")[1])]
    validity = fetched[0].ref.split(":")[0]
    assert all(m.ref.startswith(f"{validity}:") and m.origin.startswith("imap INBOX uid ") for m in fetched)


def test_ack_moves_each_outcome_to_its_folder_creating_them(dovecot: DovecotServer) -> None:
    dovecot.append([message(n) for n in range(5)])
    source = source_for(dovecot)
    try:
        msgs = list(source.fetch())
        outcomes = [Created(1), Commented(2), Skipped("automated"), Quarantined("rejected")]
        for msg, outcome in zip(msgs[:4], outcomes, strict=True):
            source.ack(msg, outcome)
        with pytest.raises(ValueError):
            source.ack(msgs[4], Deferred("zendesk down"))
    finally:
        source.close()
    assert dovecot.folder_messages("INBOX") == [message(4)]
    assert dovecot.folder_messages("BSO/Processed") == [message(0), message(1)]
    assert dovecot.folder_messages("BSO/Skipped") == [message(2)]
    assert dovecot.folder_messages("BSO/Quarantine") == [message(3)]


def test_without_move_it_copies_flags_and_expunges_that_uid_only(dovecot: DovecotServer) -> None:
    dovecot.append([message(1), message(2)])
    source = source_for(dovecot)
    try:
        first, second = list(source.fetch())
        client = source._connected()
        real = client.has_capability
        client.has_capability = lambda name: False if name == "MOVE" else real(name)  # type: ignore[method-assign]
        source.ack(first, Created(1))
    finally:
        source.close()
    assert dovecot.folder_messages("BSO/Processed") == [message(1)]
    assert dovecot.folder_messages("INBOX") == [message(2)]


def test_ack_refuses_a_uid_from_another_uidvalidity(dovecot: DovecotServer) -> None:
    dovecot.append([message(1)])
    source = source_for(dovecot)
    try:
        [msg] = list(source.fetch())
        validity, uid = msg.ref.split(":")
        stale = type(msg)(ref=f"{int(validity) + 1}:{uid}", raw=msg.raw)
        with pytest.raises(AckError, match=f"UID {uid}.*UIDVALIDITY"):
            source.ack(stale, Created(1))
    finally:
        source.close()
    assert dovecot.folder_messages("INBOX") == [message(1)]


def test_plaintext_is_refused_to_a_remote_host() -> None:
    with pytest.raises(SourceError, match="refusing plaintext"):
        ImapSource(ImapSettings(host="imap.example.com", port=143, ssl=False))
    ImapSource(ImapSettings(host="imap.example.com", port=143, ssl=False, allow_plaintext=True))


def test_starttls_failure_is_an_error_not_a_plaintext_fallback(dovecot: DovecotServer) -> None:
    # The test server offers no TLS: STARTTLS must fail loudly.
    source = source_for(dovecot, ssl="starttls")
    with pytest.raises(FetchError, match="cannot connect"):
        list(source.fetch())


def test_wrong_password_names_the_user(dovecot: DovecotServer) -> None:
    source = source_for(dovecot, password="wrong")
    with pytest.raises(FetchError, match="login as 'bso'"):
        list(source.fetch())


def test_xoauth2_login_with_a_token_instead_of_a_password(dovecot: DovecotServer) -> None:
    dovecot.append([message(1)])
    source = source_for(dovecot, password=None, oauth_token=dovecot.password)
    try:
        assert [m.raw for m in source.fetch()] == [message(1)]
    finally:
        source.close()
    assert f"user=<{dovecot.user}>, method=XOAUTH2" in dovecot.log_tail(200)
    with pytest.raises(FetchError, match="login as 'bso'"):
        list(source_for(dovecot, password=None, oauth_token="expired-token").fetch())


def test_idle_reports_new_mail_within_a_second(dovecot: DovecotServer) -> None:
    source = source_for(dovecot)
    try:
        assert list(source.fetch()) == []
        timer = threading.Timer(0.5, dovecot.append, args=([message(9)],))
        started = time.monotonic()
        timer.start()
        assert source.wait_for_mail(timeout=10) is True
        elapsed = time.monotonic() - started
        assert [m.raw for m in source.fetch()] == [message(9)]
    finally:
        source.close()
    assert 0.4 < elapsed < 1.5


def test_idle_returns_on_stop_and_on_timeout(dovecot: DovecotServer) -> None:
    source = source_for(dovecot)
    try:
        started = time.monotonic()
        assert source.wait_for_mail(timeout=0.5) is False
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        assert source.wait_for_mail(timeout=30, stop=lambda: time.monotonic() - started > 0.3) is False
        assert time.monotonic() - started < 1.5
    finally:
        source.close()


def test_idle_is_renewed_and_a_server_restart_raises_then_reconnects(dovecot: DovecotServer) -> None:
    source = source_for(dovecot, idle_renew_seconds=0.3)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            source.wait_for_mail(timeout=20)
        except FetchError as exc:
            errors.append(exc)

    try:
        list(source.fetch())
        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(1.0)  # a few renewals
        dovecot.restart()
        waiter.join(10)
        assert not waiter.is_alive()
        assert len(errors) == 1 and ("IDLE" in str(errors[0]) or "closed" in str(errors[0]))
        dovecot.append([message(3)])
        assert [m.raw for m in source.fetch()] == [message(3)]
    finally:
        source.close()


def test_mail_announced_before_idle_is_not_left_for_the_next_poll(dovecot: DovecotServer) -> None:
    dovecot.append([message(1)])
    source = source_for(dovecot)
    try:
        assert len(list(source.fetch())) == 1
        dovecot.append([message(2)])
        source._connected().noop()  # the server's EXISTS goes to this answer, not to IDLE
        started = time.monotonic()
        assert source.wait_for_mail(timeout=5) is True
        assert time.monotonic() - started < 0.5
        assert [m.raw for m in source.fetch()] == [message(1), message(2)]
        # Nothing newer now: IDLE really waits.
        assert source.wait_for_mail(timeout=0.5) is False
    finally:
        source.close()
