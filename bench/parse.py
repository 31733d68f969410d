"""Median per-message cost of `parsers.parse` vs the stdlib `email` parser.

    python bench/parse.py [CORPUS_DIR] [--rounds N]

The baseline is what any caller of the stdlib has to do to get the same
information: `policy.default` parse, read the body and every attachment.
Each message is timed `rounds` times and its best time kept (less noise from
the 2-core CI box), then the median over all messages is compared.
Goal (issue 2): ratio ≤ 1.5.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parsers import ParseError, parse  # noqa: E402


def stdlib_parse(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID"):
        message.get(name)
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        body.get_content()
    for part in message.iter_attachments():
        part.get_content()


def ours(raw: bytes) -> None:
    try:
        parse(raw)
    except ParseError:
        pass


def best_time(func: Callable[[bytes], None], raw: bytes, rounds: int) -> tuple[float, bool]:
    """(best time, whether it raised).  A raise is timed up to the exception."""
    best, failed = float("inf"), False
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            func(raw)
        except Exception:  # the stdlib raises on some malformed mail
            failed = True
        best = min(best, time.perf_counter() - start)
    return best, failed


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("corpus", nargs="?", default=str(REPO.parent / "shared" / "corpus"))
    cli.add_argument("--rounds", type=int, default=5)
    args = cli.parse_args(argv)
    files = sorted(Path(args.corpus).rglob("*.eml"))
    if not files:
        print(f"no .eml files under {args.corpus}", file=sys.stderr)
        return 2
    ours_times, std_times, std_failed, ours_failed = [], [], 0, 0
    for path in files:
        raw = path.read_bytes()
        std, failed = best_time(stdlib_parse, raw, args.rounds)
        std_failed += failed
        mine, failed = best_time(ours, raw, args.rounds)
        ours_failed += failed
        std_times.append(std)
        ours_times.append(mine)
    ours_median = statistics.median(ours_times)
    std_median = statistics.median(std_times)
    print(f"messages: {len(files)}; stdlib raised on {std_failed}, parsers.parse crashed on {ours_failed}")
    print(f"parsers.parse  median {ours_median * 1e3:.3f} ms/message")
    print(f"stdlib email   median {std_median * 1e3:.3f} ms/message (policy.default, body + attachments)")
    print(f"ratio {ours_median / std_median:.2f}x (goal <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
