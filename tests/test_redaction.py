"""Secrets never leave the process: URL passwords masked in logs, errors and the lock file (0600)."""
from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.errors import LedgerError, LockedError
from ingest.ledger import Ledger
from ingest.lock import RunLock
from ingest.logs import JsonFormatter, TextFormatter
from ingest.redact import redact_url

SECRET = "S3cr3t-p@ss"
URL = f"postgresql+psycopg://bso:{SECRET}@db.internal:5432/bso"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (URL, "postgresql+psycopg://bso:***@db.internal:5432/bso"),
        ("https://agent:tok@example.zendesk.com/api/v2", "https://agent:***@example.zendesk.com/api/v2"),
        ("postgresql://bso@db/x?password=zz&sslmode=require", "postgresql://bso@db/x?password=***&sslmode=require"),
        ("host=db password='a b' user=x", "host=db password=*** user=x"),
        ("sqlite:///var/bso-ingest.sqlite3", "sqlite:///var/bso-ingest.sqlite3"),
    ],
)
def test_redact_url(text: str, masked: str) -> None:
    assert redact_url(text) == masked
    assert redact_url(f"error at {text}: refused") == f"error at {masked}: refused"


def test_the_lock_file_is_0600_and_holds_no_password(tmp_path: Path) -> None:
    path = tmp_path / "var" / "bso-ingest.lock"
    lock = RunLock(path, f"imap://a@h/INBOX ledger={URL}")
    lock.acquire()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = path.read_text()
        assert SECRET not in content and "bso:***@db.internal" in content
        with pytest.raises(LockedError) as held:
            RunLock(path, "second").acquire()
        assert SECRET not in str(held.value) and "***" in str(held.value)
    finally:
        lock.release()


def test_an_old_world_readable_lock_file_becomes_0600(tmp_path: Path) -> None:
    path = tmp_path / "bso-ingest.lock"
    path.write_text(f"pid 1 ledger={URL}\n")
    path.chmod(0o644)
    with RunLock(path, "x"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_bad_ledger_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(LedgerError) as caught:
        Ledger.from_url(f"postgresql+psycopg://bso:{SECRET}@db:notaport/bso")
    assert SECRET not in str(caught.value) and "***" in str(caught.value)


def test_log_formatters_mask_url_passwords() -> None:
    record = logging.LogRecord("ingest.x", logging.WARNING, __file__, 1, "cannot open %s", (URL,), None)
    assert SECRET not in TextFormatter("%(message)s").format(record)
    assert SECRET not in JsonFormatter().format(record)


def test_another_run_holds_the_lock_names_it_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "settings.toml"
    config.touch()
    lock_path = tmp_path / "bso-ingest.lock"
    monkeypatch.setenv("BSO_INGEST_CONFIG", str(config))
    monkeypatch.setenv("BSO_INGEST_SERVICE__LOCK_PATH", str(lock_path))
    monkeypatch.setenv("BSO_INGEST_LEDGER__URL", URL)
    with RunLock(lock_path, f"ledger={URL}"):
        assert main(["run", "--once"]) == 75
    err = capsys.readouterr().err
    assert "another bso-ingest run holds" in err and SECRET not in err
