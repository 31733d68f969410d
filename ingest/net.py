"""Network helpers shared by the IMAP source, the Zendesk client and settings."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals only.

    A name like `127.example.com` is not loopback: plaintext (IMAP without TLS,
    Zendesk over http) is allowed only where it cannot leave the machine.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
