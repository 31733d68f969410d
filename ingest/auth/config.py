"""The `[imap]` settings that choose and configure how we log in to the mailbox.

`ImapSettings` (ingest/settings.py) inherits these fields, so they are set
under `[imap]` and as `BSO_INGEST_IMAP__<KEY>` like the rest of that section.
The secret ones (client_secret, client_certificate_key, google_service_account,
refresh_token) come only from the environment or a `*_FILE` variable: see
`AUTH_SECRETS`, which ingest/settings.py adds to its SECRETS.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

AuthKind = Literal["password", "oauth2_static", "microsoft", "google"]

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPE = "https://mail.google.com/"

AUTH_SECRETS = {
    ("imap", "client_secret"),
    ("imap", "client_certificate_key"),
    ("imap", "google_service_account"),
    ("imap", "refresh_token"),
}


class ImapAuthSettings(BaseModel):
    # password: LOGIN with imap.password.  oauth2_static: XOAUTH2 with the
    # fixed imap.oauth_token (it is not renewed).  microsoft / google: XOAUTH2
    # with tokens the provider issues and we renew before they expire.
    # Unset: oauth2_static when imap.oauth_token is set, else password.
    auth: AuthKind | None = None
    # microsoft: the Entra ID tenant (GUID or domain) and the app's client id;
    # google: the OAuth client id of an installed app (refresh-token flow).
    tenant_id: str = ""
    client_id: str = ""
    # microsoft: a client secret, or a certificate (PEM private key, secret)
    # with its SHA-1 thumbprint or the public certificate file to compute it.
    # google: the installed app's client secret (refresh-token flow).
    client_secret: SecretStr | None = None
    client_certificate_key: SecretStr | None = None
    client_certificate_thumbprint: str = ""
    client_certificate_path: Path | None = None
    authority: str = MICROSOFT_AUTHORITY
    # google: the service account's JSON key (domain-wide delegation, acting
    # as imap.username), or an installed app's refresh token.
    google_service_account: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_uri: str = GOOGLE_TOKEN_URI
    # The provider's IMAP scope unless set (national clouds use their own).
    oauth_scope: str = ""
    # CA bundle for the identity provider's TLS (default: the system's); not
    # "*_file": a BSO_INGEST_..._FILE variable names a secret file.
    oauth_ca_bundle: Path | None = None
    # Renew a token this long before it expires (at most half its lifetime).
    token_refresh_margin_seconds: float = Field(default=300.0, ge=0)
    oauth_timeout_seconds: float = Field(default=30.0, gt=0)

    def auth_kind(self, oauth_token_set: bool) -> AuthKind:
        if self.auth is not None:
            return self.auth
        return "oauth2_static" if oauth_token_set else "password"

    def auth_problems(self, oauth_token_set: bool, password_set: bool) -> list[str]:
        """What the chosen `auth` still lacks; [] when it can log in."""
        kind = self.auth_kind(oauth_token_set)
        need: list[str] = []
        if kind == "microsoft":
            if not self.tenant_id:
                need.append("imap.tenant_id (the Entra ID directory/tenant id)")
            if not self.client_id:
                need.append("imap.client_id (the app registration's application id)")
            if self.client_secret is None and self.client_certificate_key is None:
                need.append("imap.client_secret or imap.client_certificate_key (from the environment or *_FILE)")
            if self.client_certificate_key is not None and not (
                self.client_certificate_thumbprint or self.client_certificate_path
            ):
                need.append("imap.client_certificate_thumbprint or imap.client_certificate_path with the key")
        elif kind == "google":
            if self.google_service_account is None and self.refresh_token is None:
                need.append("imap.google_service_account or imap.refresh_token (from the environment or *_FILE)")
            if self.refresh_token is not None and self.google_service_account is None and not (
                self.client_id and self.client_secret is not None
            ):
                need.append("imap.client_id and imap.client_secret with imap.refresh_token")
        elif kind == "oauth2_static" and not oauth_token_set:
            need.append("imap.oauth_token (from the environment or *_FILE)")
        return [f"imap.auth = {kind!r} needs {item}" for item in need]
