"""How the IMAP source logs in: one small protocol, one provider per `[imap] auth`.

    provider = build_provider(settings.imap)
    provider.token()       # the password or a bearer token, renewed before it expires
    provider.invalidate()  # after a refused AUTHENTICATE: the next token() fetches a new one

- `password`: LOGIN with imap.password.
- `oauth2_static`: XOAUTH2 with the fixed imap.oauth_token (nobody renews it).
- `microsoft`: Entra ID client-credentials flow (msal), app-only IMAP access
  to Exchange Online, with a client secret or a certificate.
- `google`: a service account with domain-wide delegation acting as the
  mailbox user, or an installed app's refresh token (google-auth).

A provider raises AuthError when the identity provider refuses us (naming the
tenant/client and the provider's error code) and TokenUnavailable when it
cannot be reached; neither message ever contains a secret or a token.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from ingest.auth.static import PasswordProvider, StaticTokenProvider

if TYPE_CHECKING:
    from ingest.settings import ImapSettings

Mechanism = Literal["LOGIN", "XOAUTH2"]


class TokenProvider(Protocol):
    kind: str
    mechanism: Mechanism

    def token(self) -> str:
        """The credential to log in with now; a renewing provider renews it before expiry."""
        ...

    def invalidate(self) -> None:
        """The server refused the last credential: do not hand it out again."""
        ...

    def renew_if_due(self) -> None:
        """Renews now when the margin before expiry has been reached (no-op for fixed credentials)."""
        ...

    @property
    def expires_at(self) -> float | None:
        """Unix time the current token expires; None for a password or an unknown expiry."""
        ...

    def describe(self) -> str:
        """Who logs in, for logs and `check`: user, tenant and client ids, never a secret."""
        ...


def build_provider(settings: ImapSettings, *, clock: Callable[[], float] = time.time) -> TokenProvider:
    """The provider `[imap] auth` names, configured from the `[imap]` section."""
    kind = settings.auth_kind(settings.oauth_token is not None)
    if kind == "microsoft":
        from ingest.auth.microsoft import MicrosoftProvider

        return MicrosoftProvider(settings, clock=clock)
    if kind == "google":
        from ingest.auth.google import GoogleProvider

        return GoogleProvider(settings, clock=clock)
    if kind == "oauth2_static":
        token = settings.oauth_token.get_secret_value() if settings.oauth_token else ""
        return StaticTokenProvider(settings.username, token)
    password = settings.password.get_secret_value() if settings.password else ""
    return PasswordProvider(settings.username, password)


__all__ = ["Mechanism", "TokenProvider", "build_provider", "PasswordProvider", "StaticTokenProvider"]
