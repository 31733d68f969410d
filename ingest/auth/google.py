"""Google Workspace: IMAP with XOAUTH2 and tokens from google-auth.

Two ways, by which secret is set:
- `imap.google_service_account` (the JSON key): a service account with
  domain-wide delegation for the scope `https://mail.google.com/`, acting as
  the mailbox user (imap.username) through `with_subject` (docs/MAILBOXES.md);
- `imap.refresh_token` with `imap.client_id`/`imap.client_secret`: an installed
  app the mailbox user authorized once; google-auth refreshes the access token
  at `imap.token_uri`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ingest.auth.config import GOOGLE_SCOPE
from ingest.auth.http import ProviderSession
from ingest.auth.renewing import RenewingProvider
from ingest.errors import AuthError, TokenUnavailable

if TYPE_CHECKING:
    from ingest.settings import ImapSettings


class GoogleProvider(RenewingProvider):
    kind = "google"

    def __init__(self, settings: ImapSettings, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(margin=settings.token_refresh_margin_seconds, clock=clock)
        self._user = settings.username
        self._scope = settings.oauth_scope or GOOGLE_SCOPE
        self._session = ProviderSession(ca_file=settings.oauth_ca_bundle, timeout=settings.oauth_timeout_seconds)
        self._credentials: Any
        if settings.google_service_account is not None:
            from google.oauth2 import service_account

            try:
                info = json.loads(settings.google_service_account.get_secret_value())
                self._account = str(info.get("client_email", "?"))
                self._credentials = service_account.Credentials.from_service_account_info(
                    info, scopes=[self._scope]
                ).with_subject(self._user)
            except (ValueError, KeyError, TypeError) as exc:
                # Never echo the key: only what kind of problem it has.
                raise AuthError(f"google: imap.google_service_account is not a service-account JSON key"
                                f" ({type(exc).__name__})", who="google service account", code="key") from None
            self._how = f"service account {self._account} as {self._user}"
        else:
            from google.oauth2 import credentials

            assert settings.refresh_token is not None and settings.client_secret is not None
            self._credentials = credentials.Credentials(
                token=None,
                refresh_token=settings.refresh_token.get_secret_value(),
                token_uri=settings.token_uri,
                client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(),
                scopes=[self._scope],
            )
            self._how = f"installed app client={settings.client_id} for {self._user}"

    def describe(self) -> str:
        return f"google {self._how}"

    def _fetch(self) -> tuple[str, float]:
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        try:
            self._credentials.refresh(Request(self._session))
        except exceptions.RefreshError as exc:
            data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            code = str(data.get("error") or "refused")
            detail = str(data.get("error_description") or "")[:300]
            text = f"{self.describe()}: Google refused the token request ({code})" + (f": {detail}" if detail else "")
            if getattr(exc, "retryable", False):
                raise TokenUnavailable(text) from None
            raise AuthError(text, who=self.describe(), code=code) from None
        except exceptions.TransportError as exc:
            raise TokenUnavailable(f"{self.describe()}: cannot reach the token endpoint: {type(exc).__name__}") from None
        token = self._credentials.token
        expiry = self._credentials.expiry  # naive UTC (google-auth's convention)
        lifetime = (expiry.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)).total_seconds() if expiry else 0
        return str(token or ""), lifetime

    def invalidate(self) -> None:
        super().invalidate()
        self._credentials.token = None
