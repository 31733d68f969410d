"""An identity-provider stand-in on loopback: Entra ID's and Google's token endpoints, short-lived tokens.

The provider code under test talks to it through its real libraries: msal is
given `authority = https://127.0.0.1:PORT` (it reads the tenant's OpenID
configuration, then POSTs the client-credentials grant), google-auth a
service-account key or a refresh token whose `token_uri` points here.  Every
token it issues lives `lifetime` seconds (`expires_in`).

Dovecot's oauth2 passdb asks it about each bearer token (tokeninfo, then
RFC 7662 introspection, over plain http on a second loopback port), so
Dovecot itself accepts or refuses the XOAUTH2 login.

What it checks, as the real ones do:
- Entra: client id known, secret right or the client assertion a JWT signed
  by the registered certificate's key (aud = the token endpoint), scope
  `https://outlook.office365.com/.default`; errors carry AADSTS codes.
- Google: the service account's JWT grant signed by its key, aud = token_uri,
  scope `https://mail.google.com/`, `sub` a user it may act for (domain-wide
  delegation); a refresh token with its client id and secret.
- Revoking a client makes its token requests fail and its issued tokens
  inactive at once.

`requests` keeps a log of token requests and introspections with times, so
tests can count login attempts and renewals.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MS_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _certificate(subject: str, key: rsa.RSAPrivateKey, *, issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None = None,
                 ca: bool = False, sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                        critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass
class EntraApp:
    """An app registration: client id, a secret and/or a certificate, and the mailboxes granted to it."""

    tenant: str
    client_id: str
    secret: str | None = None
    certificate: x509.Certificate | None = None
    mailboxes: tuple[str, ...] = ()
    revoked: bool = False


@dataclass
class GoogleAccount:
    """A service account with domain-wide delegation for `users`, or an installed app's refresh token."""

    client_email: str = ""
    public_key: Any = None
    users: tuple[str, ...] = ()
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    revoked: bool = False


@dataclass
class Issued:
    token: str
    username: str
    client: str
    expires_at: float


@dataclass
class Event:
    at: float
    kind: str  # "token" | "token_refused" | "introspect" | "introspect_refused"
    client: str


@dataclass
class IdentityProvider:
    """The stand-in's state; `url` (https) is the authority / token URI, `introspection_url` Dovecot's."""

    root: Path
    lifetime: float = 5.0
    apps: dict[str, EntraApp] = field(default_factory=dict)
    google: dict[str, GoogleAccount] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    http_port: int = 0

    # -- set-up -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.root / "idp-ca.pem"

    @property
    def tokeninfo_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/tokeninfo?access_token="

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/introspect"

    @property
    def google_token_uri(self) -> str:
        return f"{self.url}/token"

    def register_entra(self, tenant: str, client_id: str, mailboxes: tuple[str, ...], *, secret: bool = True,
                       certificate: bool = False) -> dict[str, str]:
        """Registers an app; returns its credentials: secret, and key + cert PEM + SHA-1 thumbprint."""
        app = EntraApp(tenant, client_id, mailboxes=mailboxes)
        out: dict[str, str] = {}
        if secret:
            app.secret = out["secret"] = "s3cr3t~" + secrets.token_urlsafe(24)
        if certificate:
            key = _key()
            app.certificate = _certificate(f"bso-ingest {client_id}", key)
            out["key"] = _pem(key)
            out["certificate"] = app.certificate.public_bytes(serialization.Encoding.PEM).decode()
            out["thumbprint"] = app.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
        self.apps[client_id] = app
        return out

    def register_service_account(self, client_email: str, users: tuple[str, ...]) -> str:
        """Registers a service account with domain-wide delegation; returns its JSON key."""
        key = _key()
        self.google[client_email] = GoogleAccount(client_email=client_email, public_key=key.public_key(), users=users)
        return json.dumps({
            "type": "service_account",
            "project_id": "bso-ingest-test",
            "private_key_id": secrets.token_hex(20),
            "private_key": _pem(key),
            "client_email": client_email,
            "client_id": str(secrets.randbelow(10**20)),
            "token_uri": self.google_token_uri,
        })

    def register_installed_app(self, client_id: str, user: str) -> dict[str, str]:
        account = GoogleAccount(client_id=client_id, client_secret="GOCSPX-" + secrets.token_urlsafe(18),
                                refresh_token="1//" + secrets.token_urlsafe(40), users=(user,))
        self.google[client_id] = account
        return {"client_secret": account.client_secret, "refresh_token": account.refresh_token}

    def reset(self) -> None:
        """Forgets every client, token and event (between tests sharing one stand-in)."""
        with self.lock:
            self.apps.clear()
            self.google.clear()
            self.tokens.clear()
            self.events.clear()

    def revoke(self, client: str) -> None:
        """The client's credentials stop working and its tokens turn inactive."""
        with self.lock:
            if client in self.apps:
                self.apps[client].revoked = True
            if client in self.google:
                self.google[client].revoked = True

    def revoke_token(self, token: str) -> None:
        """One issued token turns inactive (its client stays good): revoked early, or expired early."""
        with self.lock:
            self.tokens.pop(token, None)

    def restore(self, client: str) -> None:
        with self.lock:
            if client in self.apps:
                self.apps[client].revoked = False
            if client in self.google:
                self.google[client].revoked = False

    def count(self, kind: str, client: str | None = None, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for e in self.events if e.kind == kind and e.at >= since and client in (None, e.client))

    def times(self, kind: str) -> list[float]:
        with self.lock:
            return [e.at for e in self.events if e.kind == kind]

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    # -- the endpoints' logic ---------------------------------------------------

    def _issue(self, username: str, client: str, scope: str) -> dict[str, Any]:
        token = "eyJ0eXAi." + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = Issued(token, username, client, time.time() + self.lifetime)
            self.events.append(Event(time.time(), "token", client))
        return {"token_type": "Bearer", "expires_in": int(self.lifetime), "ext_expires_in": int(self.lifetime),
                "access_token": token, "scope": scope}

    def _refuse(self, client: str) -> None:
        with self.lock:
            self.events.append(Event(time.time(), "token_refused", client))

    def entra_token(self, tenant: str, form: dict[str, str], endpoint: str) -> tuple[int, dict[str, Any]]:
        client_id = form.get("client_id", "")
        app = self.apps.get(client_id)

        def error(status: int, code: int, name: str, text: str) -> tuple[int, dict[str, Any]]:
            self._refuse(client_id)
            return status, {"error": name, "error_description": f"AADSTS{code}: {text} Trace ID: {secrets.token_hex(8)}",
                            "error_codes": [code], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                            "trace_id": secrets.token_hex(8), "correlation_id": secrets.token_hex(8)}

        if form.get("grant_type") != "client_credentials":
            return error(400, 70003, "unsupported_grant_type", "The app requested an unsupported grant type.")
        if app is None or app.tenant != tenant:
            return error(400, 700016, "unauthorized_client",
                         f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.")
        if app.revoked:
            return error(401, 7000215, "invalid_client", "Invalid client secret provided.")
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE or app.certificate is None:
                return error(401, 700027, "invalid_client", "Client assertion failed signature validation.")
            try:
                header = jwt.get_unverified_header(form["client_assertion"])
                claims = jwt.decode(form["client_assertion"], app.certificate.public_key(),  # type: ignore[arg-type]
                                    algorithms=["RS256", "PS256"], audience=endpoint)
            except jwt.PyJWTError as exc:
                return error(401, 700027, "invalid_client", f"Client assertion failed signature validation: {exc}")
            sha1 = jwt.utils.base64url_encode(app.certificate.fingerprint(hashes.SHA1())).decode()  # noqa: S303
            sha256 = jwt.utils.base64url_encode(app.certificate.fingerprint(hashes.SHA256())).decode()
            # msal keeps base64's "=" padding; compare without it.
            if str(header.get("x5t", "")).rstrip("=") != sha1 and \
                    str(header.get("x5t#S256", "")).rstrip("=") != sha256:
                return error(401, 700027, "invalid_client", "The certificate with identifier used to sign the client"
                             " assertion is not registered on application.")
            if claims.get("iss") != client_id or claims.get("sub") != client_id:
                return error(401, 700023, "invalid_client", "Client assertion audience claim does not match.")
        elif app.secret is None or form.get("client_secret") != app.secret:
            return error(401, 7000215, "invalid_client", "Invalid client secret provided.")
        if form.get("scope") != MS_SCOPE:
            return error(400, 70011, "invalid_scope", f"The provided value for scope {form.get('scope')} is not valid.")
        return 200, self._issue(app.mailboxes[0] if app.mailboxes else "", client_id, MS_SCOPE)

    def google_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") == JWT_BEARER:
            try:
                unverified = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            except jwt.PyJWTError:
                self._refuse("?")
                return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            account = self.google.get(str(unverified.get("iss")))
            if account is None or account.public_key is None:
                self._refuse(str(unverified.get("iss")))
                return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
            try:
                # google-auth always names Google's own token endpoint as the
                # audience, wherever token_uri points; Google checks exactly that.
                claims = jwt.decode(form["assertion"], account.public_key, algorithms=["RS256"],
                                    audience=GOOGLE_AUDIENCE)
            except jwt.PyJWTError:
                self._refuse(account.client_email)
                return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            if account.revoked or claims.get("sub") not in account.users or \
                    GOOGLE_SCOPE not in str(claims.get("scope", "")).split():
                self._refuse(account.client_email)
                return 401, {"error": "unauthorized_client", "error_description": "Client is unauthorized to"
                             " retrieve access tokens using this method, or client not authorized for any of the"
                             " scopes requested."}
            return 200, self._issue(str(claims["sub"]), account.client_email, GOOGLE_SCOPE)
        if form.get("grant_type") == "refresh_token":
            account = self.google.get(form.get("client_id", ""))
            if account is None or form.get("client_secret") != account.client_secret:
                self._refuse(form.get("client_id", ""))
                return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
            if account.revoked or form.get("refresh_token") != account.refresh_token:
                self._refuse(account.client_id)
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return 200, self._issue(account.users[0], account.client_id, GOOGLE_SCOPE)
        self._refuse("?")
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}

    def _active(self, token: str) -> Issued | None:
        with self.lock:
            issued = self.tokens.get(token)
            if issued is None or issued.expires_at <= time.time():
                return None
            owner = self.apps.get(issued.client) or self.google.get(issued.client)
            if owner is not None and owner.revoked:
                return None
            return issued

    def introspect(self, token: str, kind: str) -> tuple[int, dict[str, Any]]:
        issued = self._active(token)
        with self.lock:
            self.events.append(Event(time.time(), kind if issued else f"{kind}_refused",
                                     issued.client if issued else "?"))
        if issued is None:
            return (401, {"error": "invalid_token"}) if kind == "tokeninfo" else (200, {"active": False})
        left = max(0, int(issued.expires_at - time.time()))
        if kind == "tokeninfo":
            return 200, {"expires_in": left, "aud": issued.client}
        return 200, {"active": True, "username": issued.username, "client_id": issued.client,
                     "exp": int(issued.expires_at), "token_type": "Bearer"}


def _handler(idp: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            pass  # quiet: tokens travel in some of these URLs

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            if parts.path == "/tokeninfo":
                token = parse_qs(parts.query).get("access_token", [""])[0]
                self._send(*idp.introspect(token, "tokeninfo"))
                return
            if len(segments) == 4 and segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                tenant = segments[0]
                base = f"{idp.url}/{tenant}"
                self._send(200, {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                              "client_secret_basic"],
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                })
                return
            self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            form = self._form()
            if parts.path == "/introspect":
                self._send(*idp.introspect(form.get("token", ""), "introspect"))
            elif parts.path == "/token":
                self._send(*idp.google_token(form))
            elif len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]:
                self._send(*idp.entra_token(segments[0], form, f"{idp.url}{parts.path}"))
            else:
                self._send(404, {"error": "not_found"})

    return Handler


def start_idp(root: Path, lifetime: float = 5.0) -> tuple[IdentityProvider, list[ThreadingHTTPServer]]:
    idp = IdentityProvider(root=root, lifetime=lifetime)
    ca_key, leaf_key = _key(), _key()
    ca = _certificate("bso-ingest test IdP CA", ca_key, ca=True)
    import ipaddress

    leaf = _certificate("127.0.0.1", leaf_key, issuer=(ca.subject, ca_key),
                        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    idp.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = root / "idp-cert.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    keyfile = root / "idp-key.pem"
    keyfile.write_text(_pem(leaf_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, keyfile)
    handler = _handler(idp)
    https = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    https.socket = context.wrap_socket(https.socket, server_side=True)
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    idp.port, idp.http_port = https.server_address[1], http.server_address[1]
    for server in (https, http):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="idp", daemon=True).start()
    return idp, [https, http]


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[IdentityProvider]:
    """A fresh stand-in per test, issuing 5-second tokens."""
    provider, servers = start_idp(tmp_path)
    try:
        yield provider
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()

