"""Classification over the shared corpus: automated mail skipped, customer mail never.

Done-when of issue 6: >= 98% of the sisimai bounces, auto-replies and
feedback reports get the labelled kind; 100% of normal mail (imap_tools
non-report messages, ptbr non-automated, sisimai not-*) is left alone.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.settings import Settings
from parsers import ParseError, parse
from parsers.classify import classify
from tests.conftest import CORPUS, corpus_dir, corpus_files

SETTINGS = Settings().classify_config()
MIN_AUTOMATED_RATE = 0.98

# Corpus expectations we believe are wrong, with why.  The test asserts our
# answer for them, so a change in behaviour still shows.
DISPUTED: dict[str, tuple[str, str]] = {
    "imap_tools/error_emails__bad_date_header.eml": (
        "auto_reply",
        "spam whose sender declares 'Precedence: junk'; issue 6 lists Precedence junk as automated, and a bulk"
        " mailing is not a support request",
    ),
    "imap_tools/mime_emails__raw_email_with_mimepart_without_content_type.eml": (
        "bounce",
        "a multipart/report; report-type=delivery-status delay warning from 'Mail Delivery Subsystem"
        " <MAILER-DAEMON@...>' with Auto-Submitted: auto-generated (warning-timeout): a DSN, labelled null",
    ),
}


def _labels() -> dict[str, str | None]:
    path = CORPUS / "sisimai" / "labels.json"
    if not path.is_file():
        return {}
    return {name: entry["automated"] for name, entry in json.loads(path.read_text()).items()}


def _expected(eml: Path) -> str | None:
    return json.loads(eml.with_name(eml.name[: -len(".eml")] + ".expected.json").read_text()).get("automated")


def _classify(path: Path) -> tuple[str | None, str | None]:
    email = classify(parse(path.read_bytes()), SETTINGS)
    return email.automated, email.automated_reason


def _normal_mail() -> list[Path]:
    """imap_tools non-report mail labelled null, ptbr labelled null, sisimai labelled null."""
    files = [p for p in corpus_files("imap_tools") if _expected(p) is None and b"multipart/report" not in
             p.read_bytes()[:4000].lower()]
    files += [p for p in corpus_files("ptbr") if _expected(p) is None]
    files += [CORPUS / "sisimai" / name for name, kind in sorted(_labels().items()) if kind is None]
    return [p for p in files if _rel(p) not in DISPUTED]


def _rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def test_sisimai_automated_mail_is_skipped_with_the_right_kind() -> None:
    folder = corpus_dir("sisimai")
    labelled = {name: kind for name, kind in _labels().items() if kind is not None}
    assert len(labelled) > 50, "labels.json lost its automated entries"
    misses: list[str] = []
    for name, kind in sorted(labelled.items()):
        try:
            got, reason = _classify(folder / name)
        except ParseError as exc:
            # Quarantined, not a ticket; but not skipped with a reason either: a miss.
            misses.append(f"{name}: parse error ({exc})")
            continue
        if got != kind:
            misses.append(f"{name}: expected {kind}, got {got} ({reason})")
    rate = 1 - len(misses) / len(labelled)
    print(f"\nsisimai automated: {len(labelled) - len(misses)}/{len(labelled)} = {rate:.1%}; misses: {misses}")
    assert rate >= MIN_AUTOMATED_RATE, misses


@pytest.mark.parametrize("path", _normal_mail(), ids=_rel)
def test_normal_mail_is_never_skipped(path: Path) -> None:
    try:
        got, reason = _classify(path)
    except ParseError as exc:
        pytest.skip(f"does not parse ({exc}): quarantined by the parser, never reaches classification")
    assert got is None, f"customer mail classified {got}: {reason}"


@pytest.mark.parametrize("path", [p for p in corpus_files("ptbr") if _expected(p) is not None], ids=_rel)
def test_ptbr_automated_mail(path: Path) -> None:
    got, reason = _classify(path)
    assert got == _expected(path), reason


@pytest.mark.parametrize("name", sorted(DISPUTED))
def test_disputed_expectations_get_our_answer(name: str) -> None:
    path = corpus_dir(name.split("/")[0]) / name.split("/", 1)[1]
    ours, why = DISPUTED[name]
    assert _expected(path) is None, f"the corpus now agrees ({why}); drop {name} from DISPUTED"
    assert _classify(path)[0] == ours


def test_normal_mail_set_is_not_empty() -> None:
    corpus_dir("imap_tools")
    assert len(_normal_mail()) > 100
