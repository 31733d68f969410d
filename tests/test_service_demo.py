"""`bso-ingest run --once` on the Maildir source: the README's demo and a real run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from ingest.sources.maildir import demo_messages
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[1]


def files_in(folder: Path) -> list[Path]:
    return [p for sub in ("new", "cur") if (folder / sub).is_dir() for p in (folder / sub).iterdir()]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working directory and no BSO_INGEST_* variables: embedded defaults."""
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_embedded_defaults_print_the_demo_tickets_and_touch_nothing(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--once"]) == 0
    out = capsys.readouterr().out.splitlines()
    requests = [json.loads(line) for line in out if line.startswith("{")]
    posts = [r for r in requests if r["method"] == "POST" and r["url"].endswith("/api/v2/tickets.json")]
    subjects = {p["json"]["ticket"]["subject"] for p in posts}
    assert "Erro no cálculo da folha de novembro" in subjects
    assert len(posts) == len(demo_messages()) - 1  # the out-of-office reply is skipped
    # A dry run says what it would do, never "created".
    assert out[-1].startswith(f"bso-ingest run --once: {len(demo_messages())} messages: would_create=3")
    inbox = clean_env / "var" / "demo-inbox"
    # A dry run keeps no ledger, so it files nothing: the demo can be rerun.
    assert len(files_in(inbox)) == len(demo_messages())
    assert files_in(inbox / ".processed") == []
    assert not (clean_env / "var" / "bso-ingest.sqlite3").exists()


def test_a_real_maildir_run_files_every_message(
    clean_env: Path, zendesk_emulator: Emulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BSO_INGEST_SERVICE__DRY_RUN", "false")
    monkeypatch.setenv("BSO_INGEST_ZENDESK__URL", zendesk_emulator.url)
    monkeypatch.setenv("BSO_INGEST_ZENDESK__EMAIL", DEFAULT_EMAIL)
    monkeypatch.setenv("BSO_INGEST_ZENDESK__API_TOKEN", DEFAULT_API_TOKEN)
    assert main(["run", "--once"]) == 0
    assert "created=3" in capsys.readouterr().out
    inbox = clean_env / "var" / "demo-inbox"
    assert files_in(inbox) == []
    assert len(files_in(inbox / ".processed")) == 3 == len(zendesk_emulator.tickets)
    assert len(files_in(inbox / ".skipped")) == 1

    assert main(["run", "--once"]) == 0  # nothing left, nothing new
    assert "0 messages" in capsys.readouterr().out
    assert len(zendesk_emulator.tickets) == 3


def test_sigterm_stops_an_idle_maildir_service_promptly(tmp_path: Path) -> None:
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("BSO_INGEST_")}
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The "reading" line comes after the signal handlers are installed; a fixed
    # sleep raced a slow start on a loaded machine (SIGTERM killed it: -15).
    assert proc.stderr is not None
    for line in proc.stderr:
        if b" reading " in line:
            break
    else:
        raise AssertionError(f"the service never started (exit {proc.wait(10)})")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert proc.wait(10) == 0
    assert time.monotonic() - started < 2
