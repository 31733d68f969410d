"""kill -9 at random points while `bso-ingest run` drains 200 messages and replies, ten times.

Afterwards every message must have ended in exactly one place: one ticket (by
external_id) in the emulated Zendesk and its mail in Processed, or its mail in
Skipped or Quarantine.  Replies to earlier messages come interleaved with the
new mail: each must be exactly one comment on its original's ticket.  0 lost,
0 duplicates.  The service runs as a real
subprocess against the real Dovecot and the emulator (a thread in this
process), as in production.

`BSO_CRASH_SEED` picks other kill points; the seed is in the failure message.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path

import pytest

from ingest.emulator import Emulator, Faults
from parsers import parse
from tests.dovecot import DovecotServer, dovecot, dovecot_server, reply_mail, service_env, support_mail  # noqa: F401
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot  # ~20 s: under the "slow" bar

MESSAGES = 200
ROUNDS = 10
BAD_SENDER = "operador@servidor-interno"  # Zendesk answers 422: quarantined


def corpus() -> dict[int, tuple[bytes, str]]:
    """n -> (raw, expected folder); every 10th an auto-reply, every 25th refused by Zendesk."""
    mails: dict[int, tuple[bytes, str]] = {}
    for n in range(1, MESSAGES + 1):
        if n % 10 == 0:
            mails[n] = (support_mail(n, auto_reply=True), "BSO/Skipped")
        elif n % 25 == 0 or n % 25 == 13:
            mails[n] = (support_mail(n, sender=BAD_SENDER), "BSO/Quarantine")
        else:
            mails[n] = (support_mail(n), "BSO/Processed")
    return mails



def replied(mails: dict[int, tuple[bytes, str]]) -> list[int]:
    """The originals that get a reply: one in seven of those that make a ticket."""
    return [n for n, (_raw, folder) in mails.items() if folder == "BSO/Processed" and n % 7 == 2]


def inbox_order(mails: dict[int, tuple[bytes, str]]) -> list[bytes]:
    """The originals in order, each reply a few messages after the mail it answers."""
    answers = {n + 3: reply_mail(n) for n in replied(mails)}
    order: list[bytes] = []
    for n, (raw, _folder) in mails.items():
        order.append(raw)
        if n in answers:
            order.append(answers.pop(n))
    return order + list(answers.values())


def message_ids(raws: list[bytes]) -> list[str]:
    return [str(message_from_bytes(raw)["Message-ID"]) for raw in raws]


def test_kill_9_during_the_drain_loses_and_duplicates_nothing(
    dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    seed = int(os.environ.get("BSO_CRASH_SEED", "20261128"))
    rng = random.Random(seed)
    mails = corpus()
    answered = replied(mails)
    dovecot.append(inbox_order(mails))
    # A little latency so kills land inside Zendesk calls as well as between them.
    zendesk_emulator.set_faults(Faults(latency=0.03))
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, imap__batch_size="20")
    command = [sys.executable, "-m", "ingest.cli", "run"]

    progress: list[int] = []
    for _round in range(ROUNDS):
        seen = zendesk_emulator.received
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Start-up takes from 0.5 s to several on a loaded machine: kill once
        # this run talks to Zendesk (in the drain, not in start-up), at a
        # random point in a message's life.  A few rounds kill in start-up.
        deadline = time.monotonic() + (30 if rng.random() > 0.1 else rng.uniform(0.3, 1.0))
        while zendesk_emulator.received == seen and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        progress.append(len(zendesk_emulator.tickets))
    print(f"tickets after each kill: {progress}")

    # The kill rounds keep the emulator's announced 700/min pacing, which keeps
    # their kills inside the drain; the final run only has to finish it, so it
    # gets a large account limit (the pacing made it the test's longest part).
    final_env = {**env, "BSO_INGEST_ZENDESK__RATE_LIMIT_PER_MINUTE": "100000"}
    final = subprocess.run([*command, "--once"], env=final_env, capture_output=True, text=True, timeout=300)
    context = f"seed {seed}; tickets after each kill {progress}; final run: {final.stdout[-300:]}{final.stderr[-1500:]}"
    assert final.returncode == 0, context
    # The kills hit a drain in progress, not an idle service.
    assert progress[ROUNDS // 2] < sum(folder == "BSO/Processed" for _raw, folder in mails.values()), context

    expected_tickets = {f"bso-ingest:{parse(raw).key}" for raw, folder in mails.values() if folder == "BSO/Processed"}
    tickets = Counter(t.external_id for t in zendesk_emulator.tickets.values())
    duplicates = {eid: n for eid, n in tickets.items() if n > 1}
    assert duplicates == {}, context
    assert set(tickets) == expected_tickets, context

    # Every reply: exactly one comment, on its original's ticket; never a ticket.
    by_external = {t.external_id: t for t in zendesk_emulator.tickets.values()}
    for n in answered:
        bodies = [c.body for c in by_external[f"bso-ingest:{parse(mails[n][0]).key}"].comments]
        assert bodies.count(f"Segue o log pedido, resposta {n}.") == 1, f"reply {n}: {bodies}; {context}"
    comments = Counter(c.body for t in zendesk_emulator.tickets.values() for c in t.comments)
    assert {body: k for body, k in comments.items() if k > 1} == {}, context

    assert dovecot.folder_uids("INBOX") == [], context
    expected_folder = {message_ids([raw])[0]: folder for raw, folder in mails.values()}
    expected_folder.update({message_ids([reply_mail(n)])[0]: "BSO/Processed" for n in answered})
    placed: Counter[str] = Counter()
    for folder in ("BSO/Processed", "BSO/Skipped", "BSO/Quarantine"):
        ids = message_ids(dovecot.folder_messages(folder))
        placed.update(ids)
        assert set(ids) == {mid for mid, f in expected_folder.items() if f == folder}, f"{folder}: {context}"
    assert all(n == 1 for n in placed.values()), f"a message in two places: {context}"
    assert sum(placed.values()) == MESSAGES + len(answered), context
