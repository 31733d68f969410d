"""IMAP servers as they are deployed: an `INBOX.` personal namespace with separator `.`
(Courier, Debian's Cyrus, hosting panels' Dovecot), SPECIAL-USE folders, IDLE that stays
silent, and no UIDPLUS.  Against a real Dovecot set up that way (tests/dovecot.py options).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.emulator import Emulator
from ingest.outcomes import Created
from ingest.service import EXIT_OK
from ingest.settings import ImapSettings
from ingest.sources.imap import SILENT_IDLE_RENEW_SECONDS, ImapSource
from tests.dovecot import DovecotServer, dovecot, dovecot_server, service_env, start_dovecot, support_mail  # noqa: F401
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot

BAD_SENDER = "operador@servidor-interno"  # Zendesk refuses it (422): quarantined


@pytest.fixture(scope="module")
def dotted_server() -> Iterator[DovecotServer]:
    """Dovecot as Courier lays mail out: every folder under `INBOX.`, separator `.`."""
    root = Path(tempfile.mkdtemp(prefix="bso-dovecot-"))
    server = start_dovecot(root, prefix="INBOX.", separator=".", namespace_extra=(
        "  mailbox Archive {\n    special_use = \\Archive\n    auto = create\n  }\n"))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dotted(dotted_server: DovecotServer) -> DovecotServer:
    dotted_server.start()
    dotted_server.reset_mail()
    return dotted_server


def cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("BSO_INGEST_"):
            monkeypatch.setenv(key, value)
    return main(list(args))


def test_folders_go_inside_the_personal_namespace_with_its_separator(dotted: DovecotServer) -> None:
    source = ImapSource(ImapSettings(**dotted.settings()))
    try:
        assert list(source.fetch()) == []
        assert source.folder("BSO/Processed") == "INBOX.BSO.Processed"
        assert source.folder("INBOX/BSO/Quarantine") == "INBOX.BSO.Quarantine"  # already inside
        assert source.folder("inbox/Suporte") == "inbox.Suporte"  # INBOX is case-insensitive
        assert source.folder("INBOX") == "INBOX"
        assert source.folder("\\Archive") == "INBOX.Archive"
    finally:
        source.close()
    with dotted.client() as client:
        names = {name for _flags, _delim, name in client.list_folders()}
    assert {"INBOX.BSO.Processed", "INBOX.BSO.Skipped", "INBOX.BSO.Quarantine"} <= names
    assert not any(name.startswith("BSO") for name in names)


def test_run_once_and_quarantine_replay_with_default_folders(
    dotted: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dotted.append([support_mail(1), support_mail(2, sender=BAD_SENDER), support_mail(3, auto_reply=True)])
    env = service_env(dotted, zendesk_emulator.url, tmp_path)
    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    assert "created=1" in capsys.readouterr().out
    assert dotted.folder_uids("INBOX") == []
    assert len(dotted.folder_uids("INBOX.BSO.Processed")) == 1
    assert len(dotted.folder_uids("INBOX.BSO.Skipped")) == 1
    assert dotted.folder_messages("INBOX.BSO.Quarantine") == [support_mail(2, sender=BAD_SENDER)]

    assert cli(env, monkeypatch, "quarantine", "list", "--json") == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cli(env, monkeypatch, "quarantine", "replay", row["key"]) == 0
    assert dotted.folder_messages("INBOX") == [support_mail(2, sender=BAD_SENDER)]
    assert dotted.folder_uids("INBOX.BSO.Quarantine") == []

    # A configured full path in "/" form works the same.
    env["BSO_INGEST_IMAP__QUARANTINE_FOLDER"] = "INBOX/BSO/Quarantine"
    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    assert len(dotted.folder_uids("INBOX.BSO.Quarantine")) == 1
    assert cli(env, monkeypatch, "quarantine", "replay", "--all") == 0
    assert dotted.folder_messages("INBOX") == [support_mail(2, sender=BAD_SENDER)]


def test_a_special_use_role_names_the_servers_folder_and_is_never_created(dotted: DovecotServer) -> None:
    dotted.append([support_mail(1)])
    source = ImapSource(ImapSettings(**dotted.settings(processed_folder="\\Archive")))
    try:
        [msg] = list(source.fetch())
        source.ack(msg, Created(1))
    finally:
        source.close()
    assert dotted.folder_messages("INBOX.Archive") == [support_mail(1)]
    missing = ImapSource(ImapSettings(**dotted.settings(processed_folder="\\Junk")))
    with pytest.raises(Exception, match="SPECIAL-USE role"):
        list(missing.fetch())
    missing.close()


def test_silent_idle_is_detected_once_and_the_reissue_interval_shortened(
    dovecot: DovecotServer, caplog: pytest.LogCaptureFixture,
) -> None:
    """A server whose IDLE announces nothing (Courier without enhanced IDLE, Cyrus without idled).

    Dovecot announces at once, so its announcements are held back: idle_check
    reads nothing from the socket.  What a DONE returns still counts, as it
    does on those servers.
    """
    caplog.set_level(logging.INFO, logger="ingest.sources.imap")
    source = ImapSource(ImapSettings(**dovecot.settings()))
    try:
        assert list(source.fetch()) == []
        client = source._connected()

        def silent_idle_check(timeout: float | None = None) -> list[tuple[object, ...]]:
            time.sleep(timeout or 0)
            return []

        client.idle_check = silent_idle_check  # type: ignore[method-assign]
        threading.Timer(0.5, dovecot.append, args=([support_mail(1)],)).start()
        started = time.monotonic()
        # Only the DONE at the end of the wait reveals it, not IDLE itself.
        assert source.wait_for_mail(timeout=3.0) is True
        assert time.monotonic() - started >= 2.9
        assert len(list(source.fetch())) == 1
        warnings = [r for r in caplog.records if "did not announce new mail during IDLE" in r.getMessage()]
        assert len(warnings) == 1 and "IMAP_ENHANCEDIDLE" in warnings[0].getMessage()

        # Now IDLE is re-issued every few seconds; each DONE reports new mail.
        threading.Timer(0.5, dovecot.append, args=([support_mail(2)],)).start()
        started = time.monotonic()
        assert source.wait_for_mail(timeout=30.0) is True
        assert time.monotonic() - started < SILENT_IDLE_RENEW_SECONDS + 2.0
        assert len(list(source.fetch())) == 2  # nothing filed: both still there
        assert len([r for r in caplog.records if "did not announce" in r.getMessage()]) == 1
    finally:
        source.close()


def test_an_announcing_idle_is_not_taken_for_silent(dovecot: DovecotServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.sources.imap")
    source = ImapSource(ImapSettings(**dovecot.settings()))
    try:
        assert list(source.fetch()) == []
        threading.Timer(0.5, dovecot.append, args=([support_mail(1)],)).start()
        assert source.wait_for_mail(timeout=10.0) is True
        assert len(list(source.fetch())) == 1
        assert source.wait_for_mail(timeout=2.5) is False
        assert len(list(source.fetch())) == 1
    finally:
        source.close()
    assert not [r for r in caplog.records if "did not announce" in r.getMessage()]


def _without(client: object, *capabilities: str) -> None:
    real = client.has_capability  # type: ignore[attr-defined]
    client.has_capability = lambda name: False if name in capabilities else real(name)  # type: ignore[attr-defined]


def test_without_uidplus_filed_mail_stays_deleted_unless_expunge_is_opted_in(
    dovecot: DovecotServer, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ingest.sources.imap")
    for opt_in in (False, True):
        dovecot.reset_mail()
        dovecot.append([support_mail(1), support_mail(2)])
        source = ImapSource(ImapSettings(**dovecot.settings(expunge_without_uidplus=opt_in)))
        try:
            first, second = list(source.fetch())
            client = source._connected()
            _without(client, "MOVE", "UIDPLUS")
            source._check_expunge(client)
            source.ack(first, Created(1))
        finally:
            source.close()
        assert dovecot.folder_messages("BSO/Processed") == [support_mail(1)]
        assert dovecot.folder_messages("INBOX") == [support_mail(2)]  # not \Deleted ones
        with dovecot.client() as check:
            check.select_folder("INBOX", readonly=True)
            left = len(check.search(["ALL"]))
        assert left == (1 if opt_in else 2)
    lines = [r.getMessage() for r in caplog.records if "neither MOVE nor UIDPLUS" in r.getMessage()]
    assert len(lines) == 2 and "expunge_without_uidplus = true" in lines[0] and "plain EXPUNGE" in lines[1]


def test_an_inbox_folder_inside_the_namespace_is_read_waited_on_and_counted(dotted: DovecotServer) -> None:
    with dotted.client() as client:
        client.create_folder("INBOX.Suporte")
    dotted.append([support_mail(1)], folder="INBOX.Suporte")
    source = ImapSource(ImapSettings(**dotted.settings(folder="Suporte")))
    try:
        [msg] = list(source.fetch())
        assert msg.origin.startswith("imap INBOX.Suporte uid ")
        assert source.inbox_status()[0] == 1
        threading.Timer(0.5, dotted.append, args=([support_mail(2)],), kwargs={"folder": "INBOX.Suporte"}).start()
        assert source.wait_for_mail(timeout=10.0) is True
        source.ack(msg, Created(1))
    finally:
        source.close()
    assert dotted.folder_messages("INBOX.BSO.Processed") == [support_mail(1)]
    assert dotted.folder_messages("INBOX.Suporte") == [support_mail(2)]
