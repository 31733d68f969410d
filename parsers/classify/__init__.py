"""PLACEHOLDER (issue 6 replaces this): stateless classification of a parsed Email.

`classify(email, settings)` returns a copy with `automated` and
`automated_reason` set when the message is an auto-reply, bounce, feedback
report or our own mail; otherwise the email unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from parsers.model import Email

if TYPE_CHECKING:
    from ingest.settings import Settings


def classify(email: Email, settings: "Settings") -> Email:
    return email
