"""Microsoft 365: app-only IMAP access to Exchange Online with msal.

The client-credentials flow: the app registration in Entra ID holds the
Exchange Online application permission `IMAP.AccessAsApp`, and an Exchange
service principal for it is granted the mailbox (docs/MAILBOXES.md).  We ask
for `https://outlook.office365.com/.default` and log in with XOAUTH2 as the
mailbox address (imap.username) with that token.

msal keeps its own token cache (a token is served from it until five minutes
before expiry); `invalidate()` empties it, so a token the server refused is
never offered again.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from ingest.auth.config import MICROSOFT_SCOPE
from ingest.auth.http import ProviderSession
from ingest.auth.renewing import RenewingProvider
from ingest.errors import AuthError, TokenUnavailable

if TYPE_CHECKING:
    from ingest.settings import ImapSettings

# Entra answers these when it is the one failing; anything else is a refusal.
TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error", "service_unavailable"}
# Hosts msal validates on its own; any other authority (a sovereign cloud
# proxy, the test stand-in) is taken as configured.
KNOWN_AUTHORITIES = {
    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn", "login.microsoftonline.de", "login.windows.net", "login.microsoft.com",
    "sts.windows.net",
}


class MicrosoftProvider(RenewingProvider):
    kind = "microsoft"

    def __init__(self, settings: ImapSettings, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(margin=settings.token_refresh_margin_seconds, clock=clock)
        self._tenant = settings.tenant_id
        self._client_id = settings.client_id
        self._authority = f"{settings.authority.rstrip('/')}/{settings.tenant_id}"
        self._scope = settings.oauth_scope or MICROSOFT_SCOPE
        self._session = ProviderSession(ca_file=settings.oauth_ca_bundle, timeout=settings.oauth_timeout_seconds)
        self._credential: str | dict[str, str]
        if settings.client_certificate_key is not None:
            self._credential = {"private_key": settings.client_certificate_key.get_secret_value()}
            if settings.client_certificate_path is not None:
                # msal then signs with PS256 and the certificate's SHA-256
                # thumbprint (x5t#S256); a bare thumbprint is SHA-1 with RS256.
                try:
                    self._credential["public_certificate"] = settings.client_certificate_path.read_text()
                except OSError as exc:
                    raise AuthError(f"{self.describe()}: cannot read imap.client_certificate_path"
                                    f" {settings.client_certificate_path}: {exc.strerror}",
                                    who=self.describe(), code="certificate") from None
            else:
                self._credential["thumbprint"] = settings.client_certificate_thumbprint.replace(":", "").strip()
            self._credential_kind = "certificate"
        else:
            self._credential = settings.client_secret.get_secret_value() if settings.client_secret else ""
            self._credential_kind = "secret"
        self._app: Any = None

    def describe(self) -> str:
        return f"microsoft tenant={self._tenant} client={self._client_id}"

    def _application(self) -> Any:
        if self._app is not None:
            return self._app
        import msal

        host = (urlsplit(self._authority).hostname or "").lower()
        try:
            # Construction reads the tenant's OpenID configuration.
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._credential,
                authority=self._authority,
                http_client=self._session,
                instance_discovery=host in KNOWN_AUTHORITIES,
                token_cache=msal.TokenCache(),
            )
        except requests.RequestException as exc:
            raise TokenUnavailable(f"{self.describe()}: cannot reach {self._authority}: {type(exc).__name__}") from exc
        except ValueError as exc:
            # An unknown tenant, an unparsable key or authority.  msal's text
            # names the tenant and URL, never the credential.
            raise AuthError(f"{self.describe()}: {str(exc).splitlines()[0][:300]}", who=self.describe(),
                            code="authority") from exc
        return self._app

    def _fetch(self) -> tuple[str, float]:
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[self._scope])
        except requests.RequestException as exc:
            raise TokenUnavailable(f"{self.describe()}: token request failed: {type(exc).__name__}") from exc
        except ValueError as exc:  # e.g. a private key msal cannot load
            raise AuthError(f"{self.describe()}: {str(exc).splitlines()[0][:300]}", who=self.describe(),
                            code="credential") from exc
        if "access_token" in result:
            return str(result["access_token"]), float(result.get("expires_in") or 0)
        error = str(result.get("error") or "unknown_error")
        codes = result.get("error_codes") or []
        code = f"AADSTS{codes[0]}" if codes else error
        description = str(result.get("error_description") or "").splitlines()
        text = f"{self.describe()}: Entra ID refused the {self._credential_kind} ({code}, {error})" + (
            f": {description[0][:300]}" if description else "")
        if error in TRANSIENT_ERRORS:
            raise TokenUnavailable(text)
        raise AuthError(text, who=self.describe(), code=code)

    def invalidate(self) -> None:
        super().invalidate()
        if self._app is not None:
            cache = self._app.token_cache
            for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)
