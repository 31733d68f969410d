"""Per-sender rate guard, counted in a real (in-memory SQLite) ledger."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from ingest.guard import check_rate
from ingest.ledger import Ledger
from ingest.outcomes import Skipped
from ingest.settings import Settings
from parsers.model import Address, Email

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SETTINGS = Settings(classify={"sender_limit": 20, "sender_window_seconds": 600})


def arrive(ledger: Ledger, n: int, sender: str = "robo@cliente.com.br", at: datetime = T0) -> Skipped | None:
    """Claims message n from `sender` (as the pipeline does) and asks the guard about it."""
    email = Email(key=f"{sender}-{n}-{at.isoformat()}", message_id=f"<{n}@x>", requester=Address(email=sender))
    ledger.claim(email.key, message_id=email.message_id, sender=sender, subject="", ref=str(n), now=at)
    return check_rate(email, ledger, SETTINGS, at)


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger.in_memory()
    yield led
    led.close()


def test_the_first_twenty_pass_and_the_rest_of_the_burst_is_a_loop(ledger: Ledger) -> None:
    results = [arrive(ledger, n, at=T0 + timedelta(seconds=n)) for n in range(100)]
    passed = [r for r in results if r is None]
    assert len(passed) == 20 and results[:20] == [None] * 20
    assert all(isinstance(r, Skipped) and r.reason.startswith("loop: ") for r in results[20:])
    assert "robo@cliente.com.br" in results[20].reason and "limit 20" in results[20].reason


def test_the_skip_is_logged_as_a_warning(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    for n in range(20):
        arrive(ledger, n)
    with caplog.at_level(logging.WARNING, logger="ingest.guard"):
        assert arrive(ledger, 20) is not None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "robo@cliente.com.br" in caplog.records[0].getMessage()


def test_messages_outside_the_window_do_not_count(ledger: Ledger) -> None:
    for n in range(20):
        arrive(ledger, n, at=T0)
    assert arrive(ledger, 20, at=T0 + timedelta(seconds=601)) is None


def test_other_senders_are_not_affected_and_case_does_not_split_a_sender(ledger: Ledger) -> None:
    for n in range(20):
        arrive(ledger, n, sender="Robo@Cliente.com.br")
    assert arrive(ledger, 99, sender="ana@cliente.com.br") is None
    assert arrive(ledger, 20, sender="robo@cliente.com.br") is not None


def test_the_count_survives_a_restart(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    first = Ledger.from_url(url)
    for n in range(20):
        arrive(first, n)
    first.close()
    again = Ledger.from_url(url)
    try:
        assert arrive(again, 20) is not None
    finally:
        again.close()
