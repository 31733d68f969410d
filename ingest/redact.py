"""Secrets never leave the process: URL passwords are masked wherever a URL is shown."""
from __future__ import annotations

import re

# scheme://user:password@host -> scheme://user:***@host (also without a user, in longer text, and
# up to the last @ of the authority: a raw "@" in the password must not leak its tail).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:]*):(?P<secret>[^\s/]*)@")
# libpq key/value strings and query parameters: password=... / sslpassword=...
_PARAM = re.compile(r"(?P<head>\b(?:ssl)?password\s*=\s*)(?P<secret>'[^']*'|[^\s&;]+)", re.IGNORECASE)
MASK = "***"


def redact_url(text: str) -> str:
    """`text` with the password of every URL in it (and `password=` parameters) masked.

    Works on text that is not a valid URL too (the bad-URL error must not
    echo the password it could not parse).
    """
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _PARAM.sub(lambda m: f"{m['head']}{MASK}", text)
