"""`run` with `[service] http_port`: /metrics after a drain through Dovecot and the emulator,
/readyz flipping when Dovecot stops or the ledger file is deleted, /healthz."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingest.emulator import Emulator
from tests.dovecot import DovecotServer, dovecot, dovecot_server, free_port, service_env, support_mail  # noqa: F401
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot
BAD_SENDER = "operador@servidor-interno"  # Zendesk refuses it: a quarantine


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


@pytest.fixture
def service(dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    env = service_env(dovecot, zendesk_emulator.url, tmp_path, service__http_port=str(port),
                      service__http_host="127.0.0.1", imap__poll_interval_seconds="1")
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: get(port, "/healthz")[0] == 200, timeout=30, what="/healthz")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def test_metrics_equal_the_outcomes_and_readyz_follows_dovecot(
    service: tuple[subprocess.Popen, int], dovecot: DovecotServer, zendesk_emulator: Emulator
) -> None:
    proc, port = service
    dovecot.append([support_mail(n) for n in range(1, 5)])
    dovecot.append([support_mail(5, auto_reply=True), support_mail(6, sender=BAD_SENDER)])
    wait_for(lambda: dovecot.folder_uids("INBOX") == [], timeout=60, what="the inbox to drain")
    # The gauges are set at the end of a poll: wait for the poll after the drain.
    wait_for(lambda: samples(get(port, "/metrics")[1]).get(("bso_ingest_inbox_backlog", ())) == 0, timeout=30,
             what="backlog 0")

    status, text = get(port, "/metrics")
    assert status == 200
    got = samples(text)

    def outcome(kind: str) -> float:
        return got[("bso_ingest_messages_total", (("outcome", kind),))]

    assert (outcome("created"), outcome("skipped"), outcome("quarantined"), outcome("deferred")) == (4, 1, 1, 0)
    assert len(zendesk_emulator.tickets) == 4
    assert got[("bso_ingest_skips_total", (("reason", "automated_auto_reply"),))] == 1
    assert got[("bso_ingest_quarantine_size", ())] == 1
    assert got[("bso_ingest_pickup_latency_seconds_count", ())] == 6
    created = got[("bso_ingest_zendesk_requests_total", (("endpoint", "POST /api/v2/tickets"), ("status", "201")))]
    assert created == 4
    assert got[("bso_ingest_zendesk_requests_total", (("endpoint", "POST /api/v2/tickets"), ("status", "422")))] == 1
    assert got[("bso_ingest_last_successful_poll_timestamp_seconds", ())] > time.time() - 60
    assert any(name == "bso_ingest_build_info" for name, _ in got)
    assert got[("bso_ingest_zendesk_circuit_open", ())] == 0

    status, body = get(port, "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["zendesk"]["ok"]

    dovecot.stop()
    try:
        wait_for(lambda: get(port, "/readyz")[0] == 503, timeout=60, what="/readyz to fail")
        assert "unreachable" in json.loads(get(port, "/readyz")[1])["checks"]["mailbox"]["detail"]
        assert get(port, "/healthz")[0] == 200  # not dead: reconnecting
        assert samples(get(port, "/metrics")[1])[("bso_ingest_imap_reconnects_total", ())] >= 1
    finally:
        dovecot.start()
    wait_for(lambda: get(port, "/readyz")[0] == 200, timeout=90, what="/readyz to recover")
    assert get(port, "/nope")[0] == 404


def test_readyz_fails_when_the_ledger_file_is_deleted(
    service: tuple[subprocess.Popen, int], dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path
) -> None:
    proc, port = service
    dovecot.append([support_mail(1)])
    # Filed, not only created: the ledger records before the mail moves.
    wait_for(lambda: len(dovecot.folder_uids("BSO/Processed")) == 1, timeout=60, what="the first message filed")
    ledger = tmp_path / "ledger.sqlite3"
    ledger.unlink()
    wait_for(lambda: get(port, "/readyz")[0] == 503, timeout=30, what="/readyz to fail")
    detail = json.loads(get(port, "/readyz")[1])["checks"]["ledger"]["detail"]
    assert "was deleted while this process had it open" in detail
    # Nothing is written into the unlinked file: new mail stays in the inbox, no ticket is made.
    dovecot.append([support_mail(2)])
    time.sleep(3)
    assert len(zendesk_emulator.tickets) == 1
    assert len(dovecot.folder_uids("INBOX")) == 1
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert "ERROR" in stderr and "was deleted" in stderr
