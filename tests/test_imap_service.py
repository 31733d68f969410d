"""`bso-ingest run` end to end: a real Dovecot, the Zendesk emulator, the real pipeline.

Asserted: the tickets in the emulated account (by external_id) and the IMAP
folder every message ended in.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.emulator import Emulator, Faults
from ingest.ledger import Ledger
from ingest.pipeline import build_pipeline
from ingest.service import EXIT_AUTH, EXIT_LOCKED, EXIT_OK, Service, default_scheduler
from ingest.settings import load_settings
from ingest.sources.imap import ImapSource
from tests.dovecot import DovecotServer, dovecot, dovecot_server, service_env, support_mail  # noqa: F401
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot

PROCESSED, SKIPPED, QUARANTINE = "BSO/Processed", "BSO/Skipped", "BSO/Quarantine"
# An address Zendesk refuses (no dot in the domain): a 422, so quarantine.
BAD_SENDER = "operador@servidor-interno"


def cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`bso-ingest ARGS` in-process with `env` as the environment."""
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("BSO_INGEST_"):
            monkeypatch.setenv(key, value)
    return main(list(args))


def external_ids(emu: Emulator) -> list[str]:
    return sorted(t.external_id for t in emu.tickets.values())


def test_run_once_files_everything_and_leaves_the_inbox_empty(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mails = [support_mail(n) for n in range(1, 6)]
    dovecot.append(mails)
    dovecot.append([support_mail(1, received="from mx2.example.com by mx.totvs.com.br")])  # delivered twice
    dovecot.append([support_mail(6, auto_reply=True), support_mail(7, sender=BAD_SENDER)])
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, imap__batch_size="3")

    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    out = capsys.readouterr().out
    # The second delivery's outcome is its twin's recorded Created: 6, one ticket less.
    assert "8 messages: created=6" in out and "skipped=1" in out and "quarantined=1" in out

    assert dovecot.folder_uids("INBOX") == []
    assert len(zendesk_emulator.tickets) == 5
    assert len(set(external_ids(zendesk_emulator))) == 5
    assert len(dovecot.folder_uids(PROCESSED)) == 6  # the second delivery joins its ticket's mail
    assert dovecot.folder_messages(SKIPPED) == [support_mail(6, auto_reply=True)]
    assert dovecot.folder_messages(QUARANTINE) == [support_mail(7, sender=BAD_SENDER)]

    # A second run finds nothing and creates nothing.
    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    assert "0 messages" in capsys.readouterr().out
    assert len(zendesk_emulator.tickets) == 5


def test_quarantine_list_and_replay(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dovecot.append([support_mail(1, sender=BAD_SENDER), support_mail(2)])
    env = service_env(dovecot, zendesk_emulator.url, tmp_path)
    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    capsys.readouterr()

    assert cli(env, monkeypatch, "quarantine", "list", "--json") == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["sender"] == BAD_SENDER and row["message_id"] == "<pedido-1@empresa1.com.br>"
    assert "422" in row["reason"] or "rejected" in row["reason"].lower()
    assert cli(env, monkeypatch, "quarantine", "list") == 0
    table = capsys.readouterr().out
    assert row["key"][:16] in table and "Pedido de suporte 1" in table

    assert cli(env, monkeypatch, "quarantine", "replay", row["key"][:16]) == 0
    assert dovecot.folder_messages("INBOX") == [support_mail(1, sender=BAD_SENDER)]
    assert dovecot.folder_uids(QUARANTINE) == []
    ledger = Ledger.from_url(env["BSO_INGEST_LEDGER__URL"])
    try:
        assert ledger.get(row["key"]).state == "claimed"  # type: ignore[union-attr]
    finally:
        ledger.close()
    capsys.readouterr()

    # The next run processes it again (Zendesk still refuses it: back to quarantine).
    assert cli(env, monkeypatch, "run", "--once") == EXIT_OK
    assert "quarantined=1" in capsys.readouterr().out
    assert dovecot.folder_uids("INBOX") == []
    assert len(dovecot.folder_uids(QUARANTINE)) == 1
    assert cli(env, monkeypatch, "quarantine", "replay", "0123456789abcdef") == 1


def test_bad_zendesk_credentials_stop_the_run_and_file_nothing(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dovecot.append([support_mail(1), support_mail(2)])
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, zendesk__api_token="wrong")
    assert cli(env, monkeypatch, "run", "--once") == EXIT_AUTH
    assert "Zendesk refused our credentials" in capsys.readouterr().err
    assert len(dovecot.folder_uids("INBOX")) == 2
    assert zendesk_emulator.tickets == {}


def test_a_second_run_on_the_same_mailbox_and_ledger_is_refused(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    env = service_env(dovecot, zendesk_emulator.url, tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (tmp_path / "bso-ingest.lock").exists() and (tmp_path / "bso-ingest.lock").stat().st_size)
        second = subprocess.run([sys.executable, "-m", "ingest.cli", "run", "--once"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == EXIT_LOCKED
        assert "another bso-ingest run holds" in second.stderr and f"pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(15) == EXIT_OK


def test_sigterm_finishes_the_current_message_and_exits_in_time(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    # Each request takes 0.3 s, so the signal lands mid-drain, mid-message.
    zendesk_emulator.set_faults(Faults(latency=0.3))
    dovecot.append([support_mail(n) for n in range(1, 31)])
    env = service_env(dovecot, zendesk_emulator.url, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(lambda: len(zendesk_emulator.tickets) >= 3, timeout=60)
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = proc.wait(15)
    assert code == EXIT_OK, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    assert time.monotonic() - signalled < 10
    # The message in flight was finished and filed: every ticket's mail is in
    # Processed, nothing else moved, and the rest is still in the inbox.
    processed = dovecot.folder_uids(PROCESSED)
    assert 3 <= len(processed) < 30
    assert len(processed) == len(zendesk_emulator.tickets)
    assert len(dovecot.folder_uids("INBOX")) == 30 - len(processed)


def test_a_second_signal_exits_at_once(dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path) -> None:
    zendesk_emulator.set_faults(Faults(latency=3.0))  # a message that will not finish soon
    dovecot.append([support_mail(1)])
    env = service_env(dovecot, zendesk_emulator.url, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Signal while the ticket POST is in flight (not after it was answered,
    # when the service may already be idle and leave cleanly on the first).
    # At start the service reads the account's fields, forms and organizations
    # (3 requests, no cache yet); the 4th is the ticket POST.
    _wait_for(lambda: zendesk_emulator.received >= 4, timeout=60)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    assert proc.wait(5) == 128 + signal.SIGINT
    assert time.monotonic() - started < 2


def test_idle_pickup_and_recovery_from_a_dovecot_restart(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    env = service_env(dovecot, zendesk_emulator.url, tmp_path)
    settings = load_settings(env["BSO_INGEST_CONFIG"], environ=env)
    service = Service(
        ImapSource(settings.imap),
        build_pipeline(settings),
        poll_interval=3600,  # only IDLE can explain a pickup within the test
        scheduler=default_scheduler(),
    )
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # connected and idling
        appended = time.monotonic()
        dovecot.append([support_mail(1)])
        _wait_for(lambda: len(zendesk_emulator.tickets) == 1, timeout=10)
        assert time.monotonic() - appended < 2.0

        dovecot.restart()  # drops the IDLE connection
        time.sleep(0.5)
        dovecot.append([support_mail(2)])
        # Reconnect (backoff 1 s) and drain, no human involved.
        _wait_for(lambda: len(zendesk_emulator.tickets) == 2, timeout=20)
        _wait_for(lambda: len(dovecot.folder_uids(PROCESSED)) == 2, timeout=10)
        assert dovecot.folder_uids("INBOX") == []

        appended = time.monotonic()
        dovecot.append([support_mail(3)])  # and IDLE works again afterwards
        _wait_for(lambda: len(zendesk_emulator.tickets) == 3, timeout=10)
        assert time.monotonic() - appended < 2.0
    finally:
        service.request_stop()
        thread.join(15)
    assert codes == [EXIT_OK]


def _wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")
