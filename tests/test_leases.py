"""Claim leases on SQLite and PostgreSQL: one owner at a time, atomic take-over, renewal."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.errors import LeaseLost
from ingest.leases import Lease, host_id, keep_alive, new_owner, owner_is_dead
from ingest.ledger import Ledger
from ingest.outcomes import Created
from tests.postgres import drop_schema, postgres_url  # noqa: F401 - the fixture

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    led = Ledger.from_url(url)
    drop_schema(led.engine)
    led.close()


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.from_url(ledger_url)
    yield led
    led.close()


def claim(ledger: Ledger, key: str, now: datetime = T0, seconds: float = 60.0):
    return ledger.claim(key, message_id=f"<{key}@x.example>", sender="ana@cliente.com.br", subject="s", ref="1:1",
                        now=now, lease_seconds=seconds)


def test_a_live_lease_makes_the_message_busy_for_everyone_else(ledger: Ledger) -> None:
    first = claim(ledger, "k")
    assert first.fresh and first.lease is not None and not first.busy
    assert first.lease.expires_at == T0 + timedelta(seconds=60)

    # Another process, or another worker of this one: same database, other owner.
    other = claim(ledger, "k", now=T0 + timedelta(seconds=59))
    assert other.busy and other.lease is None and not other.fresh
    assert other.row.lease_owner == first.lease.owner


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_record(ledger: Ledger) -> None:
    first = claim(ledger, "k").lease
    later = claim(ledger, "k", now=T0 + timedelta(seconds=61))
    assert later.lease is not None and later.lease.owner != first.owner

    with pytest.raises(LeaseLost, match="another process took it over"):
        ledger.record(first, Created(ticket_id=1), T0 + timedelta(seconds=62))
    assert ledger.renew(first, T0 + timedelta(seconds=62)) is None
    ledger.record(later.lease, Created(ticket_id=2), T0 + timedelta(seconds=63))
    row = ledger.get("k")
    # The lease outlives the record: it covers filing the mail (ack) too.
    assert (row.state, row.ticket_id, row.lease_owner) == ("created", 2, later.lease.owner)


def test_renew_keeps_a_lease_alive_past_its_first_expiry(ledger: Ledger) -> None:
    lease = claim(ledger, "k").lease
    renewed = ledger.renew(lease, T0 + timedelta(seconds=50), 60)
    assert renewed is not None and renewed.expires_at == T0 + timedelta(seconds=110)
    assert claim(ledger, "k", now=T0 + timedelta(seconds=100)).busy
    assert claim(ledger, "k", now=T0 + timedelta(seconds=111)).lease is not None


def test_a_finished_message_grants_no_lease(ledger: Ledger) -> None:
    ledger.record(claim(ledger, "k").lease, Created(ticket_id=5), T0)
    again = claim(ledger, "k", now=T0 + timedelta(hours=1))
    assert again.final and again.lease is None and not again.busy
    # Our own process recorded it: it has filed the mail before it looks again.
    assert not claim(ledger, "k", now=T0 + timedelta(seconds=1)).busy


def test_a_message_just_recorded_by_another_live_process_is_busy_until_its_lease_ends(ledger: Ledger,
                                                                                       ledger_url: str) -> None:
    # Another process records the outcome and is still alive (filing the mail).
    script = (
        "import sys, time; from datetime import datetime, timezone; from ingest.ledger import Ledger\n"
        "from ingest.outcomes import Created\n"
        "led = Ledger.from_url(sys.argv[1]); t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)\n"
        "c = led.claim('k', message_id=None, sender='a@b.example', subject='', ref='', now=t0, lease_seconds=60)\n"
        "led.record(c.lease, Created(ticket_id=3), t0); print('recorded', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, ledger_url], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "recorded"
        busy = claim(ledger, "k", now=T0 + timedelta(seconds=30))
        assert busy.final and busy.busy
        assert not claim(ledger, "k", now=T0 + timedelta(seconds=61)).busy  # expired: re-ack is ours
    finally:
        child.communicate("", timeout=60)
    # Gone (a crash after recording, before filing): the next run files it at once.
    assert not claim(ledger, "k", now=T0 + timedelta(seconds=30)).busy


def test_abandon_frees_the_message_at_once(ledger: Ledger) -> None:
    lease = claim(ledger, "k").lease
    ledger.abandon(lease)
    assert claim(ledger, "k", now=T0 + timedelta(seconds=1)).lease is not None


def test_exactly_one_of_many_concurrent_claimers_takes_an_expired_lease(ledger_url: str) -> None:
    setup = Ledger.from_url(ledger_url)
    claim(setup, "k")  # its owner "crashed": the lease just sits there
    ledgers = [Ledger.from_url(ledger_url) for _ in range(2)]
    barrier = threading.Barrier(8)
    won: list[Lease] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        got = claim(ledgers[i % 2], "k", now=T0 + timedelta(minutes=5))
        if got.lease is not None:
            with lock:
                won.append(got.lease)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for led in (setup, *ledgers):
        led.close()
    assert len(won) == 1


def test_the_lease_of_a_process_that_died_here_is_taken_over_before_it_expires(ledger: Ledger,
                                                                               ledger_url: str) -> None:
    # A child process claims with an hour-long lease and dies without a word (kill -9).
    script = (
        "import os, sys; from datetime import datetime, timezone; from ingest.ledger import Ledger\n"
        "led = Ledger.from_url(sys.argv[1])\n"
        "c = led.claim('k', message_id=None, sender='a@b.example', subject='', ref='', "
        "now=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), lease_seconds=3600)\n"
        "assert c.lease is not None\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, ledger_url], check=True, cwd=REPO, timeout=120)
    dead_owner = ledger.get("k").lease_owner
    assert dead_owner is not None and owner_is_dead(dead_owner)

    got = claim(ledger, "k", now=T0 + timedelta(seconds=1))
    assert got.lease is not None and got.lease.owner != dead_owner


def test_owner_liveness_is_only_believed_when_provable() -> None:
    me = new_owner()
    assert me.startswith(host_id() + ":") and me != new_owner()
    assert not owner_is_dead(me)  # this very process
    assert not owner_is_dead(None) and not owner_is_dead("garbage")
    # Another host's pid says nothing about processes here.
    assert not owner_is_dead("elsewhere/abcd/1:999999:token")
    parent = subprocess.run([sys.executable, "-c", "import os; print(os.getppid())"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert not owner_is_dead(f"{host_id()}:{parent}:token")  # alive: us


def test_keep_alive_renews_while_a_long_call_runs(ledger: Ledger) -> None:
    clock = lambda: datetime.now(timezone.utc)  # noqa: E731 - real time: the renewer runs on it
    lease = ledger.claim("k", message_id=None, sender="a@b.example", subject="", ref="", now=clock(),
                         lease_seconds=1.0).lease
    with keep_alive(ledger, lease, 1.0, clock) as keeper:
        time.sleep(2.5)  # well past the first expiry
        assert ledger.claim("k", message_id=None, sender="a@b.example", subject="", ref="", now=clock(),
                            lease_seconds=1.0).busy
    assert not keeper.lost
    ledger.record(lease, Created(ticket_id=1), clock())


def test_keep_alive_notices_a_lost_lease(ledger: Ledger) -> None:
    clock = lambda: datetime.now(timezone.utc)  # noqa: E731
    lease = ledger.claim("k", message_id=None, sender="a@b.example", subject="", ref="", now=clock(),
                         lease_seconds=1.0).lease
    # Someone takes it over (as if our lease had expired): the next renewal finds out.
    ledger.abandon(lease)
    claim(ledger, "k", now=clock())
    deadline = time.monotonic() + 30
    with keep_alive(ledger, lease, 0.4, clock) as keeper:
        while not keeper.lost and time.monotonic() < deadline:
            time.sleep(0.05)
    assert keeper.lost


def test_a_ledger_from_before_leases_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # revision 0001's table, with one finished and one unfinished row
        conn.execute(text(
            "CREATE TABLE messages (key VARCHAR(128) PRIMARY KEY, message_id TEXT, sender VARCHAR(320) NOT NULL,"
            " subject TEXT NOT NULL, source_ref TEXT NOT NULL, state VARCHAR(16) NOT NULL, ticket_id BIGINT,"
            " reason TEXT, attempts INTEGER NOT NULL, claimed_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,"
            " finished_at DATETIME)"))
        conn.execute(text(
            "INSERT INTO messages VALUES ('old', '<old@x>', 'a@b', 's', '1:1', 'created', 7, NULL, 0,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),"
            " ('open', '<open@x>', 'a@b', 's', '1:2', 'claimed', NULL, NULL, 1,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)"))
    engine.dispose()
    led = Ledger.from_url(url)
    try:
        assert led.get("old").ticket_id == 7
        # An unfinished claim from before leases has no owner: claimable at once.
        assert claim(led, "open").lease is not None
        assert claim(led, "new").lease is not None
    finally:
        led.close()
