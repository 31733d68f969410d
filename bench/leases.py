"""What claim leases cost per message: the pipeline on a SQLite ledger file, with and without them.

    .venv/bin/python bench/leases.py [--messages 500] [--rounds 3]

Both runs process the same N distinct messages through the real Pipeline and a
sink that answers at once (no HTTP), each on a fresh ledger file:

- baseline: the lease renewer (ingest/leases.keep_alive) replaced by a no-op,
  so a message costs its claim INSERT and its record UPDATE only;
- leases: the shipped pipeline (claim with owner + expiry, a renewer thread
  per message, collision check, record under the lease).

Prints messages/s for both and their ratio (best of `--rounds`), measured in
the same process one after the other.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ingest.pipeline as pipeline_module  # noqa: E402
from ingest.ledger import Ledger  # noqa: E402
from ingest.outcomes import Commented, Created  # noqa: E402
from ingest.pipeline import Pipeline  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from ingest.source import RawMessage  # noqa: E402


@dataclass
class InstantSink:
    """Answers at once: only the pipeline and the ledger are measured."""

    next_id: int = 0

    def create(self, email: Any, route: Any, *, lookup_first: bool = False, followup_of: int | None = None) -> Created:
        self.next_id += 1
        return Created(ticket_id=self.next_id)

    def comment(self, email: Any, ticket_id: int, *, lookup_first: bool = False) -> Commented:
        return Commented(ticket_id=ticket_id)

    def ticket(self, ticket_id: int) -> None:
        return None

    def note(self, ticket_id: int, body: str) -> None:
        return None


def mails(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = f"Cliente {i} <cliente{i}@empresa{i % 50}.com.br>"
        msg["To"] = "atendimento.bsorm@totvs.com.br"
        msg["Subject"] = f"Pedido {i}"
        msg["Message-ID"] = f"<bench-{i}@empresa{i % 50}.com.br>"
        msg["Date"] = "Mon, 23 Nov 2026 09:14:02 -0300"
        msg.set_content(f"O cálculo falha no passo {i}.\n")
        out.append(msg.as_bytes())
    return out


@contextlib.contextmanager
def no_renewer(*_args: Any, **_kwargs: Any) -> Iterator[None]:
    yield None


def run(raws: list[bytes], *, leases: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(service={"dry_run": False}, ledger={"url": f"sqlite:///{tmp}/ledger.sqlite3"},
                            classify={"sender_limit": 1_000_000})
        ledger = Ledger.from_url(settings.ledger.url)
        pipe = Pipeline(ledger, InstantSink(), settings)  # type: ignore[arg-type]
        original = pipeline_module.keep_alive
        if not leases:
            pipeline_module.keep_alive = no_renewer  # type: ignore[assignment]
        try:
            start = time.perf_counter()
            for i, raw in enumerate(raws):
                outcome = pipe.process(RawMessage(ref=f"1:{i}", raw=raw, origin="bench"))
                assert outcome.kind == "created", outcome
            return len(raws) / (time.perf_counter() - start)
        finally:
            pipeline_module.keep_alive = original  # type: ignore[assignment]
            pipe.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    raws = mails(args.messages)
    # Interleaved, so drift in a shared machine's load hits both alike.
    base = leased = 0.0
    for i in range(args.rounds):
        # Which goes first alternates: the second of a pair runs on a warmer (or busier) machine.
        for with_leases in ((False, True) if i % 2 == 0 else (True, False)):
            rate = run(raws, leases=with_leases)
            if with_leases:
                leased = max(leased, rate)
            else:
                base = max(base, rate)
    print(f"{args.messages} messages, best of {args.rounds}: baseline {base:.0f} msg/s, with lease renewer"
          f" {leased:.0f} msg/s, ratio {leased / base:.2f}")


if __name__ == "__main__":
    main()
