"""Drain benchmark: serial against concurrent, a real Dovecot, a rate-limited, slow Zendesk emulator.

    .venv/bin/python bench/drain.py [--messages 600] [--latency-jitter 0.1]
                                    [--settings 0.3:400,0.05:2500] [--concurrency 1,8]
                                    [--idle-samples 0] [--json FILE]

For each setting LATENCY:LIMIT (seconds per Zendesk answer, requests per
minute) and each concurrency, N messages are APPENDed to an empty INBOX and
`bso-ingest run` (the real service, a subprocess) is started with
`service.concurrency` set.  Measured from its start until the Nth ticket
exists:

- elapsed against the rate-limit floor (N requests at LIMIT per minute; a
  support mail costs one request, the ticket POST), as "of floor" = floor /
  elapsed, the share of the throughput the limit allows;
- requests/s and how many were answered 429;
- the service's peak RSS (VmHWM), and the time to its first ticket (start-up,
  which counts against the floor);
- checks: tickets, duplicates (by external_id), mail left in INBOX.

Answers take LATENCY ± `--latency-jitter` (uniform).  Goal (issue 13): at
0.3 s ± jitter and 400/min, the default concurrency reaches >= 90% of the
floor with 0 lost and 0 duplicates.  `--idle-samples` adds the IDLE pickup
latency (APPEND -> ticket) after the last run.

Needs Debian's dovecot (as root, like the tests).  Prints one JSON line per
run and a table; `--json` also writes the figures to a file.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.emulator import Emulator, Faults  # noqa: E402
from ingest.settings import ServiceSettings  # noqa: E402
from parsers import parse  # noqa: E402
from tests.dovecot import DovecotServer, service_env, support_mail  # noqa: E402


class TicketWatch:
    """Notes when each ticket first exists, polling the emulator every 5 ms."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TicketWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for ticket in list(self.emu.tickets.values()):
                if ticket.external_id not in self.seen:
                    self.seen[ticket.external_id] = now
            time.sleep(0.005)

    def wait_for(self, count: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.seen)} of {count} tickets after {timeout}s")
            time.sleep(0.005)
        return max(self.seen.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def one_run(dovecot: DovecotServer, emu: Emulator, root: Path, *, messages: int, latency: float, jitter: float,
            per_minute: int, concurrency: int, idle_samples: int = 0) -> dict[str, Any]:
    dovecot.reset_mail()
    emu.reset()
    with dovecot.client() as client:
        for n in range(1, messages + 1):
            client.append("INBOX", support_mail(n))
    run_root = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    run_root.chmod(0o755)
    # A 60 s window like Zendesk's; the emulator counts requests per window.
    emu.set_faults(Faults(latency=latency, latency_jitter=jitter, rate_limit=per_minute, rate_window=60.0))
    watch = TicketWatch(emu).start()
    env = service_env(dovecot, emu.url, run_root, imap__poll_interval_seconds="3600", service__log_level="WARNING",
                      zendesk__retry_budget_seconds="600", service__concurrency=str(concurrency))
    started = time.monotonic()
    with open(run_root / "service.log", "wb") as log:
        service = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env, cwd=run_root,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        last = watch.wait_for(messages, timeout=messages * 2 + 120)
        elapsed = last - started
        # Let the last MOVEs land before counting what is left in the inbox.
        deadline = time.monotonic() + 30
        while dovecot.folder_uids("INBOX") and time.monotonic() < deadline:
            time.sleep(0.1)
        rss = peak_rss_mb(service.pid)
        pickup: dict[str, Any] | None = None
        if idle_samples:
            pickup = idle_pickup(dovecot, emu, watch, messages, idle_samples)
        service.send_signal(signal.SIGTERM)
        code = service.wait(30)
    finally:
        if service.poll() is None:
            service.kill()
        watch.stop()
    requests = len(emu.requests)
    limited = sum(1 for r in emu.requests if r.status == 429)
    # The floor counts the requests the work needs, not the 429s a client earned.
    floor = (requests - limited) / (per_minute / 60.0)
    external_ids = [t.external_id for t in emu.tickets.values()]
    result: dict[str, Any] = {
        "latency_s": latency, "jitter_s": jitter, "limit_per_min": per_minute, "concurrency": concurrency,
        "messages": messages, "tickets": len(set(external_ids)),
        "elapsed_s": round(elapsed, 2), "floor_s": round(floor, 2), "of_floor": round(floor / elapsed, 3),
        # Start-up (interpreter, imports, IMAP login, Zendesk probe) counts against the floor.
        "first_ticket_s": round(min(watch.seen.values()) - started, 2),
        "requests": requests, "requests_per_s": round(requests / elapsed, 2), "requests_429": limited,
        "peak_rss_mb": rss,
        "duplicates": len(external_ids) - len(set(external_ids)),
        "lost": messages - len(set(external_ids)),
        "inbox_left": len(dovecot.folder_uids("INBOX")),
        "service_exit": code,
    }
    if pickup is not None:
        result["idle_pickup"] = pickup
    return result


def idle_pickup(dovecot: DovecotServer, emu: Emulator, watch: TicketWatch, done: int, samples: int) -> dict[str, Any]:
    """With the service idle in IMAP IDLE, one message at a time: APPEND -> ticket."""
    emu.set_faults(Faults())
    latencies: list[float] = []
    with dovecot.client() as client:
        for i in range(samples):
            raw = support_mail(done + 1 + i)
            client.append("INBOX", raw)
            appended = time.monotonic()
            watch.wait_for(done + 1 + i, timeout=30)
            latencies.append(watch.seen[f"bso-ingest:{parse(raw).key}"] - appended)
            time.sleep(0.2)
    return {"samples": len(latencies), "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(percentile(latencies, 95), 3), "max_s": round(max(latencies), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--settings", default="0.3:400,0.05:2500",
                        help="comma-separated LATENCY_S:REQUESTS_PER_MINUTE")
    parser.add_argument("--latency-jitter", type=float, default=0.1,
                        help="answers take latency ± up to this many seconds (uniform)")
    default = ServiceSettings().concurrency
    parser.add_argument("--concurrency", default=f"1,{default}", help="comma-separated service.concurrency values")
    parser.add_argument("--idle-samples", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    settings = [(float(lat), int(lim)) for lat, lim in (s.split(":") for s in args.settings.split(","))]
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    root = Path(tempfile.mkdtemp(prefix="bso-bench-"))
    (root / "dovecot").mkdir()
    root.chmod(0o755)  # the dovecot user must reach its mail
    dovecot = DovecotServer(root / "dovecot")
    dovecot.start()
    emu = Emulator("127.0.0.1", 0, strict=True).start()
    results: list[dict[str, Any]] = []
    try:
        for i, (latency, per_minute) in enumerate(settings):
            for j, concurrency in enumerate(concurrencies):
                last = i == len(settings) - 1 and j == len(concurrencies) - 1
                print(f"{args.messages} messages, {latency}s ± {args.latency_jitter}s, {per_minute}/min, "
                      f"concurrency {concurrency} ...", flush=True)
                result = one_run(dovecot, emu, root, messages=args.messages, latency=latency,
                                 jitter=min(args.latency_jitter, latency), per_minute=per_minute,
                                 concurrency=concurrency, idle_samples=args.idle_samples if last else 0)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        emu.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"{'latency':>12} {'limit':>9} {'conc':>4} {'elapsed':>8} {'floor':>7} {'of floor':>8} {'req/s':>6} "
          f"{'429s':>5} {'RSS MB':>7} {'lost':>4} {'dup':>4}")
    for r in results:
        print(f"{r['latency_s']:>6}±{r['jitter_s']:<5} {r['limit_per_min']:>5}/min {r['concurrency']:>4} "
              f"{r['elapsed_s']:>7.1f}s {r['floor_s']:>6.1f}s {100 * r['of_floor']:>7.1f}% {r['requests_per_s']:>6} "
              f"{r['requests_429']:>5} {r['peak_rss_mb']!s:>7} {r['lost']:>4} {r['duplicates']:>4}")
    for (latency, per_minute) in settings:
        runs = {r["concurrency"]: r for r in results if r["limit_per_min"] == per_minute and r["latency_s"] == latency}
        if 1 in runs and len(runs) > 1:
            best = max(c for c in runs)
            print(f"{latency}s/{per_minute}/min: concurrency {best} is "
                  f"{runs[1]['elapsed_s'] / runs[best]['elapsed_s']:.2f}x faster than serial")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    target = [r for r in results if r["concurrency"] == default and (r["latency_s"], r["limit_per_min"]) == (0.3, 400)]
    ok = all(r["of_floor"] >= 0.9 and r["lost"] == 0 and r["duplicates"] == 0 and r["inbox_left"] == 0
             for r in target)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
