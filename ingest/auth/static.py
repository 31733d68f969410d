"""Fixed credentials: a password (LOGIN) or a static OAuth token (XOAUTH2).

Nothing renews them; a refused one stays refused until the setting changes.
"""
from __future__ import annotations

from typing import Literal


class PasswordProvider:
    kind = "password"
    mechanism: Literal["LOGIN", "XOAUTH2"] = "LOGIN"
    expires_at: float | None = None

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password

    def token(self) -> str:
        return self._password

    def invalidate(self) -> None:
        pass

    def renew_if_due(self) -> None:
        pass

    def describe(self) -> str:
        return f"password for {self._username!r}"


class StaticTokenProvider(PasswordProvider):
    kind = "oauth2_static"
    mechanism: Literal["LOGIN", "XOAUTH2"] = "XOAUTH2"

    def describe(self) -> str:
        return f"static OAuth token for {self._username!r} (not renewed: it stops working when it expires)"
