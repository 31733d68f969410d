"""Mojibake the sender's own software wrote: UTF-8 bytes read once as
windows-1252 or Latin-1 and encoded again ("ConteÃºdo", "AÃ§Ã£o").

Common in Brazilian mail that passed through old ERP mailers: the bytes on
the wire are valid in their declared charset, so no decoder can tell; only
the text shows it.  ftfy (the maintained reference for this) finds the
repair; we take it only when it is unambiguous:

- ftfy's plan is only "encode as windows-1252/Latin-1, decode as UTF-8"
  (possibly twice, for mail that was mangled twice), or its
  `decode_inconsistent_utf8` step, which rewrites only the runs that are
  valid UTF-8 once re-encoded (a reply whose quoted part is mojibake);
- guessing steps are off: no lost 0xA0 restored, no lossy sequences
  replaced, and nothing else ftfy can do (quotes, ligatures, widths, HTML
  entities, control characters) is touched.

Correct text is never a candidate: ftfy only acts on sequences that are
far likelier mojibake than text ("Ã§" but never "SÃO").  Every repair is
reported by the caller as a defect.
"""
from __future__ import annotations

import re
from functools import cache
from typing import Any

DEFECT = "mojibake repaired: UTF-8 text that the sender's software had read as windows-1252 (ftfy)"

# ftfy is imported on first need: most mail never gets that far, and the
# service's start-up should not pay for it.
_CONFIG_ARGS: dict[str, Any] = {
    "unescape_html": False,
    "remove_terminal_escapes": False,
    "fix_encoding": True,
    "restore_byte_a0": False,
    "replace_lossy_sequences": False,
    "decode_inconsistent_utf8": True,
    "fix_c1_controls": False,
    "fix_latin_ligatures": False,
    "fix_character_width": False,
    "uncurl_quotes": False,
    "fix_line_breaks": False,
    "fix_surrogates": False,
    "remove_control_chars": False,
    "normalization": None,
    "explain": True,
}
_ENCODINGS = {"latin-1", "windows-1252", "sloppy-windows-1252"}
# A UTF-8 lead byte read as Latin-1 (Â..ô) followed by a continuation byte
# read as Latin-1 or windows-1252: the only shape worth asking ftfy about.
_SUSPECT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


def repair(text: str) -> tuple[str, bool]:
    """(text, whether it was repaired); the text unchanged unless the repair is unambiguous."""
    if text.isascii() or not _SUSPECT.search(text):
        return text, False
    try:
        fix, config = _ftfy()
        result = fix(text, config)
    except Exception:  # ftfy must never break parsing
        return text, False
    plan = result.explanation or []
    if result.text == text or not _unambiguous(plan):
        return text, False
    if ("apply", "decode_inconsistent_utf8") in plan and not _latin(result.text, text):
        # Piecewise repair of text dense in Latin-1 letters (Big5 read as
        # Latin-1, say) turns letter pairs into Cyrillic or CJK: not a repair.
        return text, False
    return result.text, True


# What a piecewise repair may bring in: Latin letters, punctuation, signs.
_LATIN = re.compile("[\u00a0-\u024f\u2010-\u206f\u20ac\u2122]")


def _latin(repaired: str, original: str) -> bool:
    before = set(original)
    return all(_LATIN.match(c) for c in set(repaired) - before if not c.isascii())


@cache
def _ftfy() -> tuple[Any, Any]:
    from ftfy import TextFixerConfig, fix_encoding_and_explain

    return fix_encoding_and_explain, TextFixerConfig(**_CONFIG_ARGS)


def _unambiguous(plan: list[tuple[str, str]]) -> bool:
    steps = list(plan)
    while steps:
        step = steps.pop(0)
        if step == ("apply", "decode_inconsistent_utf8"):
            continue
        if step[0] == "encode" and step[1] in _ENCODINGS and steps and steps[0] == ("decode", "utf-8"):
            steps.pop(0)
            continue
        return False
    return True
