"""A state directory (var/) nobody may write gives one clear line, not a PermissionError traceback.

As a normal user the directory is made read-only (0555); as root, whom
permissions do not stop, it is made immutable (chattr +i), as a read-only
volume would be.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.cli import main


@pytest.fixture
def unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    var = tmp_path / "var"
    var.mkdir()
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(var)], capture_output=True).returncode != 0:
            pytest.skip("running as root and cannot make a directory immutable (chattr +i)")
        immutable = True
    else:
        var.chmod(0o555)
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "settings.toml"
    config.touch()
    monkeypatch.setenv("BSO_INGEST_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    try:
        yield var
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(var)], check=False)
        else:
            var.chmod(0o755)


def test_an_unwritable_lock_directory_is_exit_73_with_the_fix(
    unwritable: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BSO_INGEST_SERVICE__LOCK_PATH", str(unwritable / "bso-ingest.lock"))
    monkeypatch.setenv("BSO_INGEST_MAILDIR__PATH", str(unwritable.parent / "inbox"))
    assert main(["run", "--once"]) == 73
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"cannot create the lock file {unwritable / 'bso-ingest.lock'}" in err
    assert "Mount a volume writable by this user" in err


def test_an_unwritable_ledger_directory_is_a_clear_error(
    unwritable: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BSO_INGEST_LEDGER__URL", f"sqlite:///{unwritable / 'bso-ingest.sqlite3'}")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"the ledger directory {unwritable} is not writable by uid" in err
    assert "mount a volume writable by this user" in err
