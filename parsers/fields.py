"""PLACEHOLDER (issue 5 replaces this): portal form fields from the message body."""
from __future__ import annotations

from parsers.model import Email, Fields


def extract_fields(email: Email) -> Fields:
    return Fields()
