"""Drain benchmark: 1,000 messages in a real Dovecot, a rate-limited Zendesk emulator.

    .venv/bin/python bench/drain.py [--messages 1000] [--rate-limit 200 --rate-window 10]
                                    [--latency 0.02] [--idle-samples 40] [--json FILE]

1. Drain: N messages are APPENDed to INBOX, then `bso-ingest run` (the real
   service, a subprocess) is started.  Measured from its start until the Nth
   ticket exists: tickets/s, requests/s (429s included) and the elapsed time
   against the floor the rate limit allows (N requests at rate_limit per
   rate_window).  Goal: >= 90% of the floor's throughput.
2. IDLE pickup: with the service idle in IMAP IDLE, messages are APPENDed one
   at a time; the time from the APPEND's completion to the ticket's existence
   in the emulator gives p50/p95.  Goal: p50 <= 1 s.  The poll interval is set
   to an hour, so only IDLE can explain a fast pickup.

Needs Debian's dovecot (as root, like the tests).  Prints a report; `--json`
also writes the figures to a file.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.emulator import Emulator, Faults  # noqa: E402
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate-limit", type=int, default=200, help="requests allowed per window")
    parser.add_argument("--rate-window", type=float, default=10.0, help="seconds")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every Zendesk answer")
    parser.add_argument("--idle-samples", type=int, default=40)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bso-bench-"))
    (root / "dovecot").mkdir()
    root.chmod(0o755)  # the dovecot user must reach its mail
    dovecot = DovecotServer(root / "dovecot")
    dovecot.start()
    emu = Emulator("127.0.0.1", 0, strict=True).start()
    service: subprocess.Popen[bytes] | None = None
    try:
        print(f"appending {args.messages} messages to Dovecot ...", flush=True)
        started = time.monotonic()
        with dovecot.client() as client:
            for n in range(1, args.messages + 1):
                client.append("INBOX", support_mail(n))
        print(f"  {args.messages / (time.monotonic() - started):.0f} APPENDs/s", flush=True)

        faults = Faults(latency=args.latency, rate_limit=args.rate_limit, rate_window=args.rate_window)
        emu.set_faults(faults)
        watch = TicketWatch(emu).start()
        env = service_env(dovecot, emu.url, root, imap__poll_interval_seconds="3600", service__log_level="WARNING",
                          zendesk__retry_budget_seconds="600")
        started = time.monotonic()
        with open(root / "service.log", "wb") as log:
            service = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env, cwd=root,
                                       stdout=subprocess.DEVNULL, stderr=log)
        last = watch.wait_for(args.messages, timeout=args.messages * 2 + 120)
        elapsed = last - started
        requests = len(emu.requests)
        limited = sum(1 for r in emu.requests if r.status == 429)
        # --rate-limit 0: no limit, to measure the service's own capacity.
        rate = args.rate_limit / args.rate_window if args.rate_limit else float("inf")
        floor = args.messages / rate
        # The first window admits a burst of rate_limit requests at once, so
        # the strictest floor is the last window's start (our capacity aside).
        burst_floor = max(0.0, -(-args.messages // args.rate_limit) - 1) * args.rate_window if args.rate_limit else 0.0
        drain = {
            "messages": args.messages,
            "tickets": len(emu.tickets),
            "elapsed_s": round(elapsed, 2),
            "tickets_per_s": round(len(emu.tickets) / elapsed, 2),
            "requests": requests,
            "requests_429": limited,
            "requests_per_s": round(requests / elapsed, 2),
            "rate_limit_per_s": rate if args.rate_limit else None,
            "floor_s": round(floor, 2),
            "of_floor_throughput": round(floor / elapsed, 3),
            "burst_floor_s": round(burst_floor, 2),
        }
        print(json.dumps({"drain": drain}), flush=True)

        # IDLE pickup: let the rate window reset, then one message at a time.
        time.sleep(args.rate_window)
        latencies: list[float] = []
        with dovecot.client() as client:
            for i in range(args.idle_samples):
                raw = support_mail(args.messages + 1 + i)
                client.append("INBOX", raw)
                appended = time.monotonic()
                watch.wait_for(args.messages + 1 + i, timeout=30)
                latencies.append(watch.seen[f"bso-ingest:{parse(raw).key}"] - appended)
                time.sleep(0.2)
        pickup = {
            "samples": len(latencies),
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(percentile(latencies, 95), 3),
            "max_s": round(max(latencies), 3),
        }
        print(json.dumps({"idle_pickup": pickup}), flush=True)

        service.send_signal(signal.SIGTERM)
        code = service.wait(20)
        watch.stop()
        external_ids = [t.external_id for t in emu.tickets.values()]
        left = dovecot.folder_uids("INBOX")
        checks = {
            "service_exit": code,
            "duplicates": len(external_ids) - len(set(external_ids)),
            "inbox_left": len(left),
        }
        report = {
            "drain": drain,
            "idle_pickup": pickup,
            "checks": checks,
            "settings": {"latency_s": args.latency, "rate_limit": args.rate_limit, "rate_window_s": args.rate_window},
        }
        print()
        print(f"drain: {drain['tickets']} tickets in {elapsed:.1f}s = {drain['tickets_per_s']} tickets/s, "
              f"{drain['requests_per_s']} requests/s ({limited} answered 429)")
        print(f"  rate-limit floor {floor:.1f}s ({rate:g} req/s): {100 * floor / elapsed:.1f}% of its throughput "
              f"(goal >= 90%)")
        print(f"IDLE pickup (APPEND -> ticket), {len(latencies)} samples: p50 {pickup['p50_s']}s, "
              f"p95 {pickup['p95_s']}s (goal p50 <= 1s)")
        print(f"checks: {checks}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        ok = floor / elapsed >= 0.9 and pickup["p50_s"] <= 1.0 and checks["duplicates"] == 0 and not left
        return 0 if ok else 1
    finally:
        if service is not None and service.poll() is None:
            service.kill()
        emu.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
