"""Held-out mail (tests/heldout): every undisputed expectation holds.

The expectations come from other projects' own test data (see
tests/heldout/README.md); bench/heldout.py prints the rates, this keeps them
from sliding back.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.heldout import score

HELDOUT = Path(__file__).resolve().parent / "heldout"
CASES = sorted(HELDOUT.rglob("*.expected.json"))


@pytest.mark.parametrize("exp_path", CASES, ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}")
def test_heldout_message(exp_path: Path) -> None:
    expected = json.loads(exp_path.read_text(encoding="utf-8"))
    eml = exp_path.with_name(exp_path.name.removesuffix(".expected.json") + ".eml")
    results = score(eml.read_bytes(), expected)
    assert results, "expectation names no metric"
    settled = {**expected.get("disputed", {}), **expected.get("open", {})}
    misses = {m: d for m, (ok, d) in results.items() if not ok and m not in settled}
    assert not misses, misses


def test_open_misses_are_still_misses() -> None:
    """An open miss we now get right is no longer open: drop it from the JSON."""
    for exp_path in CASES:
        expected = json.loads(exp_path.read_text(encoding="utf-8"))
        eml = exp_path.with_name(exp_path.name.removesuffix(".expected.json") + ".eml")
        results = score(eml.read_bytes(), expected)
        for metric in expected.get("open", {}):
            assert not results[metric][0], f"{exp_path.name}: {metric} now matches"


def test_disputed_expectations_still_differ() -> None:
    """A disputed expectation that we now meet is no longer disputed: drop it."""
    for exp_path in CASES:
        expected = json.loads(exp_path.read_text(encoding="utf-8"))
        eml = exp_path.with_name(exp_path.name.removesuffix(".expected.json") + ".eml")
        results = score(eml.read_bytes(), expected)
        for metric in expected.get("disputed", {}):
            assert not results[metric][0], f"{exp_path.name}: {metric} now matches"
