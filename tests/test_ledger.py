"""The ledger on a SQLite file in tmp_path: the claim → record protocol and its queries."""
from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.errors import LedgerError
from ingest.ledger import Ledger, metadata, normalize_message_id, raw_key
from ingest.outcomes import Commented, Created, Deferred, Quarantined, Skipped

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # A directory that does not exist yet: the ledger must create it.
    return tmp_path / "var" / "nested" / "ledger.sqlite3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback, or a skip saying what is missing."""
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install -e .[postgres])")
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not found")
    bindir = Path(initdb).parent
    # PostgreSQL refuses to run as root: run it as the `postgres` user then.
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="bso-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        try:
            shutil.chown(root, "postgres")
        except (LookupError, OSError):
            pytest.skip("running as root and no `postgres` user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    proc = None
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "bso",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        proc = subprocess.Popen(
            [*as_user, str(bindir / "postgres"), "-D", str(root / "data"), "-p", str(port), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("PostgreSQL did not start")
                time.sleep(0.1)
        yield f"postgresql+psycopg://bso@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def drop_schema(engine) -> None:
    """Empties a shared PostgreSQL database for the next test: tables and the schema revision."""
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


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
    claim(ledger, "k1")
    ledger.record("k1", Created(ticket_id=4242), T0 + timedelta(seconds=3))

    again = claim(ledger, "k1", now=T0 + timedelta(hours=1))
    assert (again.fresh, again.final, again.state, again.ticket_id) == (False, True, "created", 4242)
    assert again.row.outcome() == Created(ticket_id=4242)
    assert again.row.finished_at == T0 + timedelta(seconds=3)


@pytest.mark.parametrize(
    "outcome",
    [Commented(ticket_id=7), Skipped(reason="automated (auto_reply)"), Quarantined(reason="Zendesk rejected: 422")],
)
def test_every_final_outcome_round_trips(ledger: Ledger, outcome) -> None:
    claim(ledger, "k1")
    ledger.record("k1", outcome, T0)
    row = ledger.get("k1")
    assert row is not None and row.state == outcome.kind
    assert row.outcome() == outcome


def test_record_refuses_a_deferral_and_an_unknown_key(ledger: Ledger) -> None:
    claim(ledger, "k1")
    with pytest.raises(ValueError, match="fail"):
        ledger.record("k1", Deferred(reason="503"), T0)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="never claimed"):
        ledger.record("nope", Created(ticket_id=1), T0)


def test_fail_counts_attempts_and_keeps_the_claim(ledger: Ledger) -> None:
    claim(ledger, "k1")
    assert ledger.fail("k1", "503 Service Unavailable", T0 + timedelta(minutes=1)) == 1
    assert ledger.fail("k1", "timeout", T0 + timedelta(minutes=2)) == 2
    row = ledger.get("k1")
    assert row is not None
    assert (row.state, row.attempts, row.reason) == ("claimed", 2, "timeout")
    assert row.updated_at == T0 + timedelta(minutes=2)
    with pytest.raises(LedgerError):
        ledger.fail("nope", "x", T0)


def test_release_makes_a_quarantined_message_claimable_again(ledger: Ledger) -> None:
    claim(ledger, "k1")
    ledger.fail("k1", "503", T0)
    ledger.record("k1", Quarantined(reason="gave up after 1 attempts: 503"), T0)
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
    claim(ledger, "old", now=T0)
    claim(ledger, "recent", now=T0 + timedelta(minutes=50))
    claim(ledger, "done", now=T0)
    ledger.record("done", Created(ticket_id=1), T0)

    assert [r.key for r in ledger.pending(T0 + timedelta(minutes=30))] == ["old"]
    assert [r.key for r in ledger.pending(T0 + timedelta(hours=1))] == ["old", "recent"]


def test_ticket_for_message_ids_finds_a_ticketed_message_however_the_id_is_written(ledger: Ledger) -> None:
    claim(ledger, "a", mid="<orig-1@cliente.com.br>")
    ledger.record("a", Created(ticket_id=501), T0)
    claim(ledger, "b", mid="<skipped@cliente.com.br>")
    ledger.record("b", Skipped(reason="automated"), T0)
    claim(ledger, "c", mid="<still-claimed@cliente.com.br>")

    assert ledger.ticket_for_message_ids(["orig-1@cliente.com.br"]) == 501
    assert ledger.ticket_for_message_ids(["<nothing@x>", " <orig-1@cliente.com.br> "]) == 501
    assert ledger.ticket_for_message_ids(["<skipped@cliente.com.br>", "<still-claimed@cliente.com.br>"]) is None
    assert ledger.ticket_for_message_ids([]) is None


def test_a_comment_is_found_by_its_message_id_too(ledger: Ledger) -> None:
    claim(ledger, "a", mid="<reply@cliente.com.br>")
    ledger.record("a", Commented(ticket_id=77), T0)
    assert ledger.ticket_for_message_ids(["<reply@cliente.com.br>"]) == 77


def test_count_from_sender_counts_the_window_case_insensitively(ledger: Ledger) -> None:
    for i in range(3):
        claim(ledger, f"in{i}", now=T0 + timedelta(minutes=i), sender="Loop@Robot.example")
    claim(ledger, "before", now=T0 - timedelta(hours=1), sender="loop@robot.example")
    claim(ledger, "other", now=T0, sender="someone@else.example")

    assert ledger.count_from_sender("loop@robot.example", T0) == 3
    assert ledger.count_from_sender("LOOP@robot.example", T0 - timedelta(hours=2)) == 4
    assert ledger.count_from_sender("nobody@x.example", T0) == 0


def test_stats_counts_by_state(ledger: Ledger) -> None:
    for key in ("a", "b", "c", "d"):
        claim(ledger, key)
    ledger.record("a", Created(ticket_id=1), T0)
    ledger.record("b", Created(ticket_id=2), T0)
    ledger.record("c", Skipped(reason="loop"), T0)
    assert ledger.stats() == {"claimed": 1, "created": 2, "commented": 0, "skipped": 1, "quarantined": 0}


def test_state_survives_reopening(ledger_url: str) -> None:
    first = Ledger.from_url(ledger_url)
    claim(first, "k1")
    first.record("k1", Created(ticket_id=9), T0)
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
    ledger.record("k1", Quarantined(reason="bad\x00reason"), T0)
    assert ledger.get("k1").reason == "badreason"
    assert ledger.count_from_sender("a\x00" + "b" * 400 + "@x.example", T0) == 1


def test_naive_timestamps_are_refused(ledger: Ledger) -> None:
    with pytest.raises((LedgerError, ValueError), match="timezone-aware"):
        ledger.claim("k", message_id=None, sender="a@b", subject="", ref="", now=datetime(2026, 1, 1))


def test_in_memory_ledgers_are_private() -> None:
    a, b = Ledger.in_memory(), Ledger.in_memory()
    claim(a, "k1")
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
