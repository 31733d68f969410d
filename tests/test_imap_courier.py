"""Against Courier-IMAP (tests/courier.py: Debian's package unpacked in a private root).

Courier as Debian ships it: every folder under `INBOX.` with separator `.`,
no MOVE (copy, \\Deleted, UID EXPUNGE), and IDLE that announces nothing
(IMAP_ENHANCEDIDLE=0).  Skipped where scripts/test could not unpack it.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.emulator import Emulator
from ingest.outcomes import Created
from ingest.service import EXIT_OK
from ingest.settings import ImapSettings
from ingest.sources.imap import SILENT_IDLE_RENEW_SECONDS, ImapSource
from tests.courier import CourierServer, courier, start_courier  # noqa: F401 - the fixture
from tests.dovecot import service_env, support_mail
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

BAD_SENDER = "operador@servidor-interno"  # Zendesk refuses it (422): quarantined


def cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("BSO_INGEST_"):
            monkeypatch.setenv(key, value)
    return main(list(args))


def test_run_once_and_quarantine_replay_with_default_folders(
    courier: CourierServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    courier.append([support_mail(1), support_mail(2, sender=BAD_SENDER), support_mail(3, auto_reply=True)])
    env = service_env(courier, zendesk_emulator.url, tmp_path)  # type: ignore[arg-type]
    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    assert "created=1" in capsys.readouterr().out
    assert courier.all_uids("INBOX") == []  # filed without MOVE, expunged by UID
    assert len(courier.folder_uids("INBOX.BSO.Processed")) == 1
    assert len(courier.folder_uids("INBOX.BSO.Skipped")) == 1
    assert courier.folder_messages("INBOX.BSO.Quarantine") == [support_mail(2, sender=BAD_SENDER)]

    assert cli(env, monkeypatch, "quarantine", "list", "--json") == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cli(env, monkeypatch, "quarantine", "replay", row["key"]) == 0
    assert courier.folder_messages("INBOX") == [support_mail(2, sender=BAD_SENDER)]
    assert courier.folder_uids("INBOX.BSO.Quarantine") == []


def test_courier_idle_is_silent_detected_once_and_pickup_stays_within_seconds(
    courier: CourierServer, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.sources.imap")
    source = ImapSource(ImapSettings(**courier.settings()))
    try:
        assert list(source.fetch()) == []
        threading.Timer(0.5, courier.append, args=([support_mail(1)],)).start()
        started = time.monotonic()
        source.wait_for_mail(timeout=4.0)  # Courier says nothing while idling
        assert time.monotonic() - started >= 3.9
        assert len(list(source.fetch())) == 1
        warnings = [r for r in caplog.records if "did not announce new mail during IDLE" in r.getMessage()]
        assert len(warnings) == 1

        threading.Timer(0.5, courier.append, args=([support_mail(2)],)).start()
        started = time.monotonic()
        assert source.wait_for_mail(timeout=60.0) is True
        # Within a couple of re-issue intervals, not Courier's 60 s.
        assert time.monotonic() - started < 3 * SILENT_IDLE_RENEW_SECONDS
        assert len(list(source.fetch())) == 2
        assert len([r for r in caplog.records if "did not announce" in r.getMessage()]) == 1
    finally:
        source.close()


def test_without_uidplus_mail_stays_deleted_unless_expunge_is_opted_in(tmp_path: Path) -> None:
    without = "IMAP4rev1 CHILDREN NAMESPACE QUOTA IDLE"  # Debian's list less UIDPLUS
    for opt_in in (False, True):
        home = tmp_path / f"opt-in-{opt_in}"
        server = start_courier(home, capability=without)
        try:
            server.append([support_mail(1), support_mail(2)])
            source = ImapSource(ImapSettings(**server.settings(expunge_without_uidplus=opt_in)))
            try:
                first, _second = list(source.fetch())
                source.ack(first, Created(1))
                assert [m.raw for m in source.fetch()] == [support_mail(2)]  # \Deleted ones are skipped
            finally:
                source.close()
            assert server.folder_messages("INBOX.BSO.Processed") == [support_mail(1)]
            assert len(server.all_uids("INBOX")) == (1 if opt_in else 2)
        finally:
            server.stop()
