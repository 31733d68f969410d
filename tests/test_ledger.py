"""The ledger on a SQLite file in tmp_path: the claim → record protocol and its queries."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.errors import LeaseLost, LedgerError
from ingest.leases import Lease
from ingest.ledger import Ledger, metadata, normalize_message_id, raw_key
from ingest.outcomes import Commented, Created, Deferred, Quarantined, Skipped
from tests.postgres import drop_schema, postgres_url  # noqa: F401 - the fixture (test_migrate imports both from here)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # A directory that does not exist yet: the ledger must create it.
    return tmp_path / "var" / "nested" / "ledger.sqlite3"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{db_path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """The same ledger tests on SQLite and on PostgreSQL (each test starts empty)."""
    led = Ledger.from_url(ledger_url)
    yield led
    if led.engine.dialect.name != "sqlite":
        drop_schema(led.engine)
    led.close()


def claim(ledger: Ledger, key: str, *, now: datetime = T0, sender: str = "Ana@Cliente.com.br", mid: str | None = None,
          ref: str = "1:1"):
    return ledger.claim(key, message_id=mid or f"<{key}@cliente.com.br>", sender=sender, subject=f"subject {key}",
                        ref=ref, now=now)


def test_creates_the_sqlite_directory_and_uses_wal(db_path: Path) -> None:
    Ledger.from_url(f"sqlite:///{db_path}").close()
    assert db_path.is_file()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_first_claim_is_fresh_and_a_second_returns_the_row(ledger: Ledger) -> None:
    first = claim(ledger, "k1", ref="7:41")
    assert (first.fresh, first.state, first.attempts, first.ticket_id) == (True, "claimed", 0, None)
    assert first.claimed_at == T0

    later = T0 + timedelta(minutes=5)
    again = claim(ledger, "k1", now=later, ref="7:99")
    assert not again.fresh
    assert again.state == "claimed"
    # The original claim time survives: it decides whether the Idempotency-Key expired.
    assert again.claimed_at == T0
    # ...but ack needs where the message is now.
    assert again.row.source_ref == "7:99"
    assert again.row.sender == "ana@cliente.com.br"
    assert again.row.message_id == "<k1@cliente.com.br>"


def test_record_makes_the_claim_final_with_its_ticket(ledger: Ledger) -> None:
    lease_k1 = claim(ledger, "k1").lease
    ledger.record(lease_k1, Created(ticket_id=4242), T0 + timedelta(seconds=3))

    again = claim(ledger, "k1", now=T0 + timedelta(hours=1))
    assert (again.fresh, again.final, again.state, again.ticket_id) == (False, True, "created", 4242)
    assert again.row.outcome() == Created(ticket_id=4242)
    assert again.row.finished_at == T0 + timedelta(seconds=3)


@pytest.mark.parametrize(
    "outcome",
    [Commented(ticket_id=7), Skipped(reason="automated (auto_reply)"), Quarantined(reason="Zendesk rejected: 422")],
)
def test_every_final_outcome_round_trips(ledger: Ledger, outcome) -> None:
    lease_k1 = claim(ledger, "k1").lease
    ledger.record(lease_k1, outcome, T0)
    row = ledger.get("k1")
    assert row is not None and row.state == outcome.kind
    assert row.outcome() == outcome


def test_record_refuses_a_deferral_and_an_unknown_key(ledger: Ledger) -> None:
    lease_k1 = claim(ledger, "k1").lease
    with pytest.raises(ValueError, match="fail"):
        ledger.record(lease_k1, Deferred(reason="503"), T0)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="never claimed"):
        ledger.record(Lease("nope", "someone", T0), Created(ticket_id=1), T0)


def test_fail_counts_attempts_keeps_the_claim_and_ends_the_lease(ledger: Ledger) -> None:
    first = claim(ledger, "k1").lease
    assert ledger.fail(first, "503 Service Unavailable", T0 + timedelta(minutes=1)) == 1
    # The lease ended with the failure: the next claim (any process) gets it at once.
    second = claim(ledger, "k1", now=T0 + timedelta(minutes=2)).lease
    assert second is not None and second.owner != first.owner
    with pytest.raises(LeaseLost):
        ledger.fail(first, "late", T0 + timedelta(minutes=2))
    assert ledger.fail(second, "timeout", T0 + timedelta(minutes=2)) == 2
    row = ledger.get("k1")
    assert row is not None
    assert (row.state, row.attempts, row.reason, row.lease_owner) == ("claimed", 2, "timeout", None)
    assert row.updated_at == T0 + timedelta(minutes=2)
    with pytest.raises(LedgerError):
        ledger.fail(Lease("nope", "someone", T0), "x", T0)


def test_release_makes_a_quarantined_message_claimable_again(ledger: Ledger) -> None:
    lease_k1 = claim(ledger, "k1").lease
    ledger.record(lease_k1, Quarantined(reason="gave up after 1 attempts: 503"), T0)
    claim(ledger, "k2")

    assert [r.key for r in ledger.quarantined()] == ["k1"]
    assert ledger.release("k1", T0 + timedelta(days=1)) is True
    assert ledger.release("k2", T0) is False  # not quarantined
    assert ledger.release("unknown", T0) is False

    again = claim(ledger, "k1", now=T0 + timedelta(days=1))
    assert (again.fresh, again.state, again.attempts) == (False, "claimed", 0)
    assert again.claimed_at == T0
    assert ledger.quarantined() == []


def test_pending_lists_claims_untouched_since_the_cutoff(ledger: Ledger) -> None:
    lease_old = claim(ledger, "old", now=T0).lease
    lease_recent = claim(ledger, "recent", now=T0 + timedelta(minutes=50)).lease
    lease_done = claim(ledger, "done", now=T0).lease
    ledger.record(lease_done, Created(ticket_id=1), T0)

    assert [r.key for r in ledger.pending(T0 + timedelta(minutes=30))] == ["old"]
    assert [r.key for r in ledger.pending(T0 + timedelta(hours=1))] == ["old", "recent"]


def test_ticket_for_message_ids_finds_a_ticketed_message_however_the_id_is_written(ledger: Ledger) -> None:
    lease_a = claim(ledger, "a", mid="<orig-1@cliente.com.br>").lease
    ledger.record(lease_a, Created(ticket_id=501), T0)
    lease_b = claim(ledger, "b", mid="<skipped@cliente.com.br>").lease
    ledger.record(lease_b, Skipped(reason="automated"), T0)
    lease_c = claim(ledger, "c", mid="<still-claimed@cliente.com.br>").lease

    assert ledger.ticket_for_message_ids(["orig-1@cliente.com.br"]) == 501
    assert ledger.ticket_for_message_ids(["<nothing@x>", " <orig-1@cliente.com.br> "]) == 501
    assert ledger.ticket_for_message_ids(["<skipped@cliente.com.br>", "<still-claimed@cliente.com.br>"]) is None
    assert ledger.ticket_for_message_ids([]) is None


def test_a_comment_is_found_by_its_message_id_too(ledger: Ledger) -> None:
    lease_a = claim(ledger, "a", mid="<reply@cliente.com.br>").lease
    ledger.record(lease_a, Commented(ticket_id=77), T0)
    assert ledger.ticket_for_message_ids(["<reply@cliente.com.br>"]) == 77


def test_count_from_sender_counts_the_window_case_insensitively(ledger: Ledger) -> None:
    for i in range(3):
        claim(ledger, f"in{i}", now=T0 + timedelta(minutes=i), sender="Loop@Robot.example")
    lease_before = claim(ledger, "before", now=T0 - timedelta(hours=1), sender="loop@robot.example").lease
    lease_other = claim(ledger, "other", now=T0, sender="someone@else.example").lease

    assert ledger.count_from_sender("loop@robot.example", T0) == 3
    assert ledger.count_from_sender("LOOP@robot.example", T0 - timedelta(hours=2)) == 4
    assert ledger.count_from_sender("nobody@x.example", T0) == 0


def test_stats_counts_by_state(ledger: Ledger) -> None:
    leases = {key: claim(ledger, key).lease for key in ("a", "b", "c", "d")}
    ledger.record(leases["a"], Created(ticket_id=1), T0)
    ledger.record(leases["b"], Created(ticket_id=2), T0)
    ledger.record(leases["c"], Skipped(reason="loop"), T0)
    assert ledger.stats() == {"claimed": 1, "created": 2, "commented": 0, "skipped": 1, "quarantined": 0}


def test_state_survives_reopening(ledger_url: str) -> None:
    first = Ledger.from_url(ledger_url)
    lease_k1 = claim(first, "k1").lease
    first.record(lease_k1, Created(ticket_id=9), T0)
    first.close()

    second = Ledger.from_url(ledger_url)
    try:
        again = claim(second, "k1")
        assert (again.fresh, again.ticket_id) == (False, 9)
    finally:
        drop_schema(second.engine)
        second.close()


def test_concurrent_claims_of_one_key_give_exactly_one_fresh(ledger_url: str) -> None:
    # Two ledgers on one database behave like the service and a `send` side by side.
    ledgers = [Ledger.from_url(ledger_url) for _ in range(2)]
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        c = claim(ledgers[i % 2], "same-key")
        with lock:
            results.append(c.fresh)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drop_schema(ledgers[0].engine)
    for led in ledgers:
        led.close()
    assert sorted(results) == [False] * 7 + [True]


def test_hostile_header_values_are_stored_not_refused(ledger: Ledger) -> None:
    # PostgreSQL refuses NUL and over-long VARCHARs: a message must not be able
    # to make its own claim fail forever.
    long_id = "<" + "x" * 5000 + "@spam.example>"
    got = ledger.claim("k1", message_id=long_id, sender="a\x00" + "b" * 400 + "@x.example",
                       subject="Assunto\x00com NUL", ref="1:\x001", now=T0)
    assert got.fresh
    assert got.row.subject == "Assuntocom NUL"
    assert len(got.row.message_id) <= 1000 and len(got.row.sender) <= 320
    ledger.record(got.lease, Quarantined(reason="bad\x00reason"), T0)
    assert ledger.get("k1").reason == "badreason"
    assert ledger.count_from_sender("a\x00" + "b" * 400 + "@x.example", T0) == 1


def test_naive_timestamps_are_refused(ledger: Ledger) -> None:
    with pytest.raises((LedgerError, ValueError), match="timezone-aware"):
        ledger.claim("k", message_id=None, sender="a@b", subject="", ref="", now=datetime(2026, 1, 1))


def test_in_memory_ledgers_are_private() -> None:
    a, b = Ledger.in_memory(), Ledger.in_memory()
    lease_k1 = claim(a, "k1").lease
    assert a.get("k1") is not None
    assert b.get("k1") is None


def test_a_bad_url_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError, match="ledger.url"):
        Ledger.from_url("not a url at all")


def test_an_uncreatable_directory_is_a_ledger_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(LedgerError, match="cannot create the ledger directory"):
        Ledger.from_url(f"sqlite:///{blocker / 'sub' / 'ledger.sqlite3'}")


def test_helpers() -> None:
    assert raw_key(b"abc").startswith("raw:") and len(raw_key(b"abc")) == 4 + 64
    assert raw_key(b"abc") != raw_key(b"abd")
    assert normalize_message_id(" <a@b> ") == "<a@b>"
    assert normalize_message_id("a@b") == "<a@b>"
    assert normalize_message_id("<a@b> (Outlook)") == "<a@b>"
    assert normalize_message_id("") is None and normalize_message_id(None) is None
