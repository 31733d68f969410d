"""What the issue 15 checks cost per message, as a ratio of parsing it.

    .venv/bin/python bench/security.py [--rounds 5]

Over every shared-corpus message that parses: `parsers.parse` (the baseline),
then `authenticate` (Authentication-Results with authres), `mask_email`
(CPF/CNPJ search) and `blocked_reason` over its attachments (name checks,
sniffing, looking into winmail.dat and attached .eml), each timed over the
same messages in the same run.  Prints milliseconds per message and the ratio
to parsing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parsers import ParseError, parse  # noqa: E402
from parsers.attachment_safety import AttachmentSettings, blocked_reason  # noqa: E402
from parsers.classify.authentication import authenticate  # noqa: E402
from parsers.classify.security import SecuritySettings  # noqa: E402
from parsers.pii import mask_email  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("BSO_CORPUS", REPO.parent / "shared" / "corpus"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    raws = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))]
    emails = []
    for raw in raws:
        try:
            emails.append((raw, parse(raw)))
        except ParseError:
            pass
    security = SecuritySettings(trusted_authserv_ids=["mx.totvs.com.br"])
    attachments = AttachmentSettings()
    n = len(emails)

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            for raw, email in emails:
                fn(raw, email)
            best = min(best, time.perf_counter() - start)
        return best / n * 1000

    base = timed(lambda raw, email: parse(raw))
    rows = {
        "authenticate": timed(lambda raw, email: authenticate(email, security)),
        "mask_email": timed(lambda raw, email: mask_email(email)),
        "attachments": timed(lambda raw, email: [blocked_reason(a, attachments) for a in email.attachments]),
    }
    print(f"{n} messages, best of {args.rounds} rounds")
    print(f"  parse (baseline)  {base:8.3f} ms/message")
    for name, ms in rows.items():
        print(f"  {name:<17} {ms:8.3f} ms/message  {ms / base:6.1%} of parse")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
