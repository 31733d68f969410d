"""Shared fixtures: the read-only corpus beside the repo."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("BSO_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_dir(name: str) -> Path:
    """A corpus folder, or a clear skip when ../shared/corpus is absent."""
    path = CORPUS / name
    if not path.is_dir():
        pytest.skip(f"shared corpus not found at {path} (set BSO_CORPUS to its location)")
    return path


def corpus_files(name: str, pattern: str = "*.eml") -> list[Path]:
    """For parametrize: the corpus files, or [] (the test then reports a skip)."""
    path = CORPUS / name
    return sorted(path.rglob(pattern)) if path.is_dir() else []


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (set BSO_CORPUS to its location)")
    return CORPUS


# In CI the fuzz tests replay a fixed set of examples, so a landing never
# depends on luck; locally they explore new inputs each run.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")
