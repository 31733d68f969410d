"""What mapping the portal fields costs per message: `route` with the account's
field catalogue and directory vs `route` without (the baseline), same run.

    python bench/fields.py [CORPUS_DIR] [--rounds N] [--options N]

Messages are parsed once; each is routed `rounds` times and its best time kept.
`--options N` pads every drop-down of the portal form to N options (real
accounts have drop-downs with hundreds), to show how fuzzy matching scales.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parsers import ParseError, parse  # noqa: E402
from routing import RoutingSettings, route  # noqa: E402
from routing.account import Account  # noqa: E402


def best(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("corpus", nargs="?", default=str(REPO.parent / "shared" / "corpus" / "ptbr"))
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--options", type=int, default=0)
    a = p.parse_args()
    data = json.loads((REPO / "ingest" / "demo" / "portal-form.json").read_text(encoding="utf-8"))
    if a.options:
        for f in data["ticket_fields"]:
            opts = f.get("custom_field_options")
            if opts:
                opts += [{"id": None, "name": f"Opção extra {i}", "value": f"extra_{f['id']}_{i}"}
                         for i in range(max(0, a.options - len(opts)))]
    account = Account.from_api(data)
    cfg = RoutingSettings()
    emails = []
    for path in sorted(Path(a.corpus).glob("*.eml")):
        try:
            emails.append(parse(path.read_bytes()))
        except ParseError:
            continue
    without = [best(lambda e=e: route(e, cfg), a.rounds) for e in emails]
    with_account = [best(lambda e=e: route(e, cfg, None, account), a.rounds) for e in emails]
    base, ours = statistics.median(without), statistics.median(with_account)
    print(f"{len(emails)} messages, drop-downs of {a.options or 'the portal form'} options: route median "
          f"{base * 1e3:.3f} ms without the catalogue, {ours * 1e3:.3f} ms with it; ratio {ours / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
