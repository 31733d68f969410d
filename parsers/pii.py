"""Brazilian CPF and CNPJ numbers, found by their check digits and masked.

The help page asks customers not to send official document numbers; some
do.  With `[security] mask_documents` on, valid numbers are masked in the
subject and text before anything is sent to Zendesk (the mailbox keeps the
original).  A number is masked only when its check digits hold, so version
numbers, phone numbers, invoice and order numbers stay as written.

- CPF: 11 digits, `000.000.000-00` or bare; two mod-11 check digits with
  weights 10..2 and 11..2.  Repeated-digit numbers (111.111.111-11) pass the
  arithmetic but are never issued, so they are left alone.
- CNPJ: 14 characters, `00.000.000/0000-00` or bare; check digits with the
  weights 5,4,3,2,9,8,7,6,5,4,3,2 and 6,5,4,3,2,9,8,7,6,5,4,3,2.
- Alphanumeric CNPJ (Receita Federal, from July 2026; IN RFB 2.229/2024,
  SERPRO's check-digit manual): the first 12 characters may be 0-9 or A-Z,
  the last two stay digits; each character counts as its ASCII code minus
  48 (0-9 keep their value, A=17 ... Z=42) in the same mod-11 sums, so
  today's numeric CNPJs keep their check digits.  A bare 14-character
  token with letters is masked only after a "CNPJ" label, because product
  codes and keys of that shape are common; written with its punctuation it
  is masked anywhere.

Masks keep the punctuation and the last digits, e.g. `***.***.789-09` and
`**.***.***/0001-95`, so an agent can still tell two numbers apart.
"""
from __future__ import annotations

import re

from parsers.model import Email

_CPF_WEIGHTS = (range(10, 1, -1), range(11, 1, -1))
_CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))

# Not part of a longer number, code, version or address: no letter or digit
# right before or after, nor a separator that continues into one.
_BEFORE = r"(?<![0-9A-Za-z])(?<![0-9A-Za-z][./-])"
_AFTER = r"(?![0-9A-Za-z])(?![./-][0-9A-Za-z])"
_CPF = re.compile(_BEFORE + r"(\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})" + _AFTER)
_CNPJ_PUNCTUATED = re.compile(_BEFORE + r"([0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2})" + _AFTER)
_CNPJ_BARE = re.compile(_BEFORE + r"([0-9A-Z]{12}\d{2})" + _AFTER)
_CNPJ_LABEL = re.compile(r"CNPJ\s*(?:n[º°o.]*\s*)?[:\-]?\s*$", re.IGNORECASE)
_SEPARATORS = str.maketrans("", "", ".-/")


def cpf_valid(number: str) -> bool:
    """True for a CPF (with or without punctuation) whose check digits hold."""
    digits = number.translate(_SEPARATORS)
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    values = [int(d) for d in digits]
    for position, weights in zip((9, 10), _CPF_WEIGHTS):
        total = sum(v * w for v, w in zip(values, weights))
        if (total * 10 % 11) % 10 != values[position]:
            return False
    return True


def cnpj_valid(number: str) -> bool:
    """True for a CNPJ, numeric or alphanumeric, whose check digits hold."""
    chars = number.translate(_SEPARATORS)
    if len(chars) != 14 or not chars[12:].isdigit() or not re.fullmatch(r"[0-9A-Z]{12}", chars[:12]):
        return False
    if len(set(chars)) == 1:
        return False
    values = [ord(c) - 48 for c in chars]
    for position, weights in zip((12, 13), _CNPJ_WEIGHTS):
        remainder = sum(v * w for v, w in zip(values, weights)) % 11
        if (0 if remainder < 2 else 11 - remainder) != values[position]:
            return False
    return True


def mask_documents(text: str) -> str:
    """`text` with every valid CPF and CNPJ masked; everything else unchanged."""
    if not text:
        return text
    spans: list[tuple[int, int, str]] = []

    def take(start: int, end: int, masked: str) -> None:
        if not any(s < end and start < e for s, e, _ in spans):
            spans.append((start, end, masked))

    for match in _CNPJ_PUNCTUATED.finditer(text):
        if cnpj_valid(match.group(1)):
            take(match.start(1), match.end(1), _mask(match.group(1), keep=6))
    for match in _CNPJ_BARE.finditer(text):
        value = match.group(1)
        if value.isdigit() or _CNPJ_LABEL.search(text[max(0, match.start(1) - 20):match.start(1)]):
            if cnpj_valid(value):
                take(match.start(1), match.end(1), _mask(value, keep=6))
    for match in _CPF.finditer(text):
        if cpf_valid(match.group(1)):
            take(match.start(1), match.end(1), _mask(match.group(1), keep=5))
    if not spans:
        return text
    out = []
    last = 0
    for start, end, masked in sorted(spans):
        out.append(text[last:start])
        out.append(masked)
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_email(email: Email) -> Email:
    """A copy of `email` whose subject and texts carry no valid CPF/CNPJ."""
    update = {
        "subject": mask_documents(email.subject),
        "body_text": mask_documents(email.body_text),
        "body_html": mask_documents(email.body_html) if email.body_html else email.body_html,
    }
    if all(update[name] == getattr(email, name) for name in update):
        return email
    return email.model_copy(update=update)


def _mask(value: str, *, keep: int) -> str:
    """Stars for every letter or digit but the last `keep`; punctuation stays."""
    significant = [i for i, ch in enumerate(value) if ch.isalnum()]
    hidden = set(significant[:-keep])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


__all__ = ["cnpj_valid", "cpf_valid", "mask_documents", "mask_email"]
