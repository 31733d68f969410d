"""Ledger retention: what `prune --older-than` drops, trims and keeps (threading and dedupe survive)."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.ledger import Ledger
from ingest.outcomes import Created, Quarantined, Skipped
from ingest.retention import parse_age, prune

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=10)


def finished(ledger: Ledger, key: str, outcome, when: datetime) -> None:  # type: ignore[no-untyped-def]
    claim = ledger.claim(key, message_id=f"<{key}@cliente.com.br>", sender="ana@cliente.com.br",
                         subject=f"Assunto {key}", ref="1:1", now=when)
    assert claim.lease is not None
    ledger.record(claim.lease, outcome, when)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    finished(led, "old-ticket", Created(ticket_id=41, reason="r"), OLD)
    finished(led, "old-skip", Skipped("automated (auto_reply): x"), OLD)
    finished(led, "old-quarantine", Quarantined("Zendesk rejected"), OLD)
    finished(led, "recent-skip", Skipped("loop: x"), RECENT)
    led.claim("open", message_id="<open@x>", sender="a@x", subject="s", ref="2:2", now=OLD)
    yield led
    led.close()


def test_parse_age() -> None:
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("12w") == timedelta(weeks=12)
    assert parse_age("48h") == timedelta(hours=48)
    assert parse_age("30") == timedelta(days=30)
    for bad in ("", "0d", "-1d", "ninety", "90m"):
        with pytest.raises(ValueError):
            parse_age(bad)


def test_prune_keeps_what_threading_and_dedupe_need(ledger: Ledger) -> None:
    assert prune(ledger, timedelta(days=90), NOW, dry_run=True).deleted == 1
    assert ledger.get("old-skip") is not None  # a dry run changes nothing

    done = prune(ledger, timedelta(days=90), NOW)
    assert (done.deleted, done.trimmed, done.kept_quarantined) == (1, 1, 1)
    assert ledger.get("old-skip") is None
    kept = ledger.get("old-ticket")
    assert kept is not None and (kept.state, kept.ticket_id) == ("created", 41)
    assert (kept.subject, kept.sender, kept.reason) == ("", "", None)  # personal data gone
    assert ledger.ticket_for_message_ids(["<old-ticket@cliente.com.br>"]) == 41  # a late reply still threads
    assert ledger.get("old-quarantine") is not None and ledger.get("recent-skip") is not None
    assert ledger.get("open") is not None and ledger.get("open").state == "claimed"  # type: ignore[union-attr]
    # Idempotent.
    assert prune(ledger, timedelta(days=90), NOW) .deleted == 0


def test_prune_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                       ledger: Ledger) -> None:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "settings.toml"
    config.touch()
    monkeypatch.setenv("BSO_INGEST_CONFIG", str(config))
    monkeypatch.setenv("BSO_INGEST_LEDGER__URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert main(["prune", "--older-than", "90d"]) == 0
    assert "deleted=1" in capsys.readouterr().out
    assert main(["prune", "--older-than", "soon"]) == 2
    assert "not an age" in capsys.readouterr().err
