"""Two `bso-ingest run --once` with different lock paths on one Dovecot inbox and one ledger.

The run lock cannot keep them apart (each holds its own), so only the ledger's
claim leases stand between them and duplicates: a message one run holds is
left alone by the other ("in progress elsewhere").  New mail first, then
replies interleaved with more new mail: 0 duplicate tickets, 0 duplicate
comments, every message filed once.
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest

from ingest.emulator import Emulator, Faults
from parsers import parse
from ingest.ledger import Ledger
from tests.dovecot import DovecotServer, dovecot, dovecot_server, reply_mail, service_env, support_mail  # noqa: F401
from tests.postgres import drop_schema, postgres_url  # noqa: F401 - the fixture
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot

FIRST, SECOND, REPLIES = 40, 15, 15



def two_runs(env: dict[str, str], tmp_path: Path) -> None:
    procs = []
    for name in ("a", "b"):
        run_env = {**env, "BSO_INGEST_SERVICE__LOCK_PATH": str(tmp_path / f"run-{name}.lock")}
        procs.append(subprocess.Popen([sys.executable, "-m", "ingest.cli", "run", "--once"], env=run_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{out[-500:]}{err[-2000:]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The shared ledger: a SQLite file, or PostgreSQL as replicas use it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    led = Ledger.from_url(url)
    drop_schema(led.engine)
    led.close()


def test_two_runs_on_one_inbox_and_ledger_duplicate_nothing(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path, ledger_url: str
) -> None:
    zendesk_emulator.set_faults(Faults(latency=0.02))  # so the two runs overlap inside Zendesk calls
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, imap__batch_size="10", ledger__url=ledger_url)
    firsts = [support_mail(n) for n in range(1, FIRST + 1)]
    dovecot.append(firsts)
    two_runs(env, tmp_path)

    # Replies to the first mails, interleaved with new mail.
    later: list[bytes] = []
    for i in range(REPLIES):
        later += [reply_mail(i + 1), support_mail(FIRST + i + 1)]
    dovecot.append(later)
    two_runs(env, tmp_path)

    news = firsts + [support_mail(n) for n in range(FIRST + 1, FIRST + SECOND + 1)]
    tickets = Counter(t.external_id for t in zendesk_emulator.tickets.values())
    assert {eid: n for eid, n in tickets.items() if n > 1} == {}
    assert set(tickets) == {f"bso-ingest:{parse(raw).key}" for raw in news}

    by_external = {t.external_id: t for t in zendesk_emulator.tickets.values()}
    for n in range(1, REPLIES + 1):
        ticket = by_external[f"bso-ingest:{parse(support_mail(n)).key}"]
        bodies = [c.body for c in ticket.comments]
        assert bodies.count(f"Segue o log pedido, resposta {n}.") == 1, (n, bodies)
    every_comment = Counter(c.body for t in zendesk_emulator.tickets.values() for c in t.comments)
    assert {b: k for b, k in every_comment.items() if k > 1} == {}

    assert dovecot.folder_uids("INBOX") == []
    filed = Counter(str(message_from_bytes(raw)["Message-ID"]) for raw in dovecot.folder_messages("BSO/Processed"))
    assert all(k == 1 for k in filed.values())
    assert sum(filed.values()) == FIRST + SECOND + REPLIES
