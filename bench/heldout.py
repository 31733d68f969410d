"""Held-out measurement: `parsers.parse` on real mail this project never saw.

    python bench/heldout.py [FOLDER ...] [--quiet]

Each NAME.eml sits beside NAME.expected.json, written from another project's
own test expectations (the README in the folder names the source of each), so
the parser is not graded against what it already produces.  The JSON keys:

    subject         expected Subject (whitespace runs compared as one space)
    from_email      expected sender address (case-insensitive)
    from_name       expected sender display name
    body_contains   snippets that must occur in body_text (whitespace-normalized)
    attachments     expected attachment file names, in any order
    attachment_contains  {file name: text its decoded bytes must hold (UTF-8)}
    disputed        {metric: reason} where we hold the expectation wrong; such
                    metrics are reported apart, not counted as misses
    open            {metric: reason} a miss we know of and have not fixed: it
                    counts as a miss here; tests/test_heldout.py lets it fail

A key that is absent is not scored for that message.  Prints the per-metric
rate and every miss; exits 0 (a measurement, not a test).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parsers import ParseError, parse  # noqa: E402

DEFAULT = REPO / "tests" / "heldout"
METRICS = ("subject", "from_email", "from_name", "body", "attachments")


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def score(raw: bytes, expected: dict) -> dict[str, tuple[bool, str]]:
    """metric -> (ok, detail) for each metric the expectation names."""
    try:
        email = parse(raw)
    except ParseError as exc:
        return {m: (False, f"ParseError: {exc}") for m in _named(expected)}
    out: dict[str, tuple[bool, str]] = {}
    if "subject" in expected:
        got = norm(email.subject)
        out["subject"] = (got == norm(expected["subject"]), repr(got))
    if "from_email" in expected:
        got = email.requester.email
        out["from_email"] = (got.lower() == expected["from_email"].lower(), repr(got))
    if "from_name" in expected:
        got = norm(email.requester.name)
        out["from_name"] = (got == norm(expected["from_name"]), repr(got))
    if "body_contains" in expected:
        body = norm(email.body_text)
        missing = [s for s in expected["body_contains"] if norm(s) not in body]
        out["body"] = (not missing, f"missing {missing!r} in {body[:300]!r}")
    if "attachments" in expected:
        got = sorted(norm(a.filename) for a in email.attachments)
        want = sorted(norm(n) for n in expected["attachments"])
        ok, detail = got == want, f"got {got!r}, want {want!r}"
        by_name = {norm(a.filename): a.content for a in email.attachments}
        for name, text in expected.get("attachment_contains", {}).items():
            content = by_name.get(norm(name), b"")
            if text.encode("utf-8") not in content:
                ok, detail = False, f"{name}: {text!r} not in its content {content[:80]!r}"
        out["attachments"] = (ok, detail)
    return out


def _named(expected: dict) -> list[str]:
    keys = {"subject": "subject", "from_email": "from_email", "from_name": "from_name",
            "body_contains": "body", "attachments": "attachments"}
    return [m for k, m in keys.items() if k in expected]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[DEFAULT])
    ap.add_argument("--quiet", action="store_true", help="rates only")
    args = ap.parse_args(argv)
    passed = dict.fromkeys(METRICS, 0)
    total = dict.fromkeys(METRICS, 0)
    disputed: list[str] = []
    misses: list[str] = []
    messages = 0
    for folder in args.folders:
        for exp_path in sorted(folder.rglob("*.expected.json")):
            eml = exp_path.with_name(exp_path.name.removesuffix(".expected.json") + ".eml")
            expected = json.loads(exp_path.read_text(encoding="utf-8"))
            messages += 1
            name = eml.relative_to(folder) if eml.is_relative_to(folder) else eml
            for metric, (ok, detail) in score(eml.read_bytes(), expected).items():
                reason = expected.get("disputed", {}).get(metric)
                if reason and not ok:
                    disputed.append(f"{name} {metric}: {reason} (we give {detail})")
                    continue
                total[metric] += 1
                passed[metric] += ok
                if not ok:
                    why = expected.get("open", {}).get(metric)
                    misses.append(f"{name} {metric}: {detail}" + (f" [open: {why}]" if why else ""))
    print(f"{messages} messages")
    for metric in METRICS:
        if total[metric]:
            print(f"  {metric:12s} {passed[metric]:3d}/{total[metric]:3d}"
                  f"  {100 * passed[metric] / total[metric]:5.1f}%")
    if not args.quiet:
        for line in misses:
            print("MISS", line)
        for line in disputed:
            print("DISPUTED", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
