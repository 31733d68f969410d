"""Checks of the mail source: IMAP login, folders and capabilities (or the Maildir)."""
from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import datetime, timezone

from imapclient.exceptions import IMAPClientError

from ingest.checks import Context, Result, Skip, fail, ok
from ingest.errors import AuthError, SourceError, TokenUnavailable

SECRET_FIX = "set BSO_INGEST_IMAP__PASSWORD or BSO_INGEST_IMAP__PASSWORD_FILE (or imap.oauth_token for XOAUTH2)"


def check_login(ctx: Context) -> Iterator[Result]:
    """Gets a token from the provider `[imap] auth` names, then logs in (nothing is selected or changed)."""
    from ingest.sources.imap import CONNECTION_ERRORS, ImapSource

    settings = ctx.settings
    if settings.service.source != "imap":
        raise Skip(f"service.source is {settings.service.source!r}")
    imap = settings.imap
    target = f"{imap.host}:{imap.port}"
    kind = imap.auth_kind(imap.oauth_token is not None)
    if not imap.username:
        yield fail("imap.login", "imap.username is empty", "set imap.username (or BSO_INGEST_IMAP__USERNAME)")
        return
    if kind == "password" and imap.password is None:
        yield fail("imap.login", "the IMAP password is missing: neither imap.password nor imap.oauth_token is set",
                   SECRET_FIX)
        return
    try:
        source = ImapSource(imap)
        provider = source.provider
        if kind in ("microsoft", "google"):
            provider.token()
            expires = provider.expires_at
            left = f"; token valid until {datetime.fromtimestamp(expires, timezone.utc):%Y-%m-%d %H:%M:%SZ}" \
                f" (in {expires - time.time():.0f}s, renewed before)" if expires else ""
            yield ok("imap.auth", f"{provider.describe()}{left}")
        else:
            yield ok("imap.auth", provider.describe())
        client = source.open_readonly()
    except AuthError as exc:
        yield fail("imap.login", f"{target} refused the login of {imap.username!r}: {exc}", _auth_fix(kind))
        return
    except TokenUnavailable as exc:
        yield fail("imap.auth", str(exc), "check that the identity provider is reachable (proxy, DNS, firewall)")
        return
    except SourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            yield fail("imap.login", f"TLS with {target} failed: {cause}",
                       "check imap.ssl (true for IMAPS on 993, \"starttls\" on 143) and the server's certificate")
        elif isinstance(cause, CONNECTION_ERRORS):
            yield fail("imap.login", f"cannot connect to {target}: {type(cause).__name__}: {cause}",
                       "check imap.host, imap.port and that the network lets this container reach it")
        else:
            yield fail("imap.login", str(exc), "set imap.ssl = true or \"starttls\"")
        return
    ctx.set_imap(client)
    ctx.memo["imap.source"] = source
    yield ok("imap.login", f"logged in to {target} as {imap.username} ({provider.mechanism} via {kind})")


def _auth_fix(kind: str) -> str:
    return {
        "password": "check imap.username and the password (BSO_INGEST_IMAP__PASSWORD[_FILE])",
        "oauth2_static": "imap.oauth_token is refused (expired?): use imap.auth = \"microsoft\" or \"google\","
                         " which renew tokens",
        "microsoft": "check tenant_id, client_id and the secret/certificate, the IMAP.AccessAsApp consent and the"
                     " Exchange service principal's mailbox permission (docs/MAILBOXES.md)",
        "google": "check the service account's domain-wide delegation for https://mail.google.com/ and"
                  " imap.username (docs/MAILBOXES.md)",
    }[kind]


def check_folders(ctx: Context) -> Iterator[Result]:
    """The inbox must exist and opens read-only; the outcome folders exist or are created at the first start.

    Names are resolved as `run` resolves them: inside the personal namespace
    (RFC 2342), with the server's separator.
    """
    client = ctx.imap()
    source = ctx.memo["imap.source"]
    imap = ctx.settings.imap
    folders = client.list_folders()
    names = {str(name) for _flags, _delim, name in folders}
    if source._prefix:
        yield ok("imap.namespace", f"personal namespace {source._prefix!r}, separator {source._delimiter!r}")
    inbox = source.folder(imap.folder)
    if inbox in names or inbox.upper() == "INBOX":
        try:
            info = client.select_folder(inbox, readonly=True)
            count = int(info.get(b"EXISTS", 0))
            yield ok("imap.folders", f"inbox {imap.folder!r} opened read-only as {inbox!r}: {count} messages,"
                     f" UIDVALIDITY {int(info.get(b'UIDVALIDITY', 0))}")
        except IMAPClientError as exc:
            yield fail("imap.folders", f"inbox {inbox!r} cannot be opened: {exc}", "check the account's rights on it")
    else:
        known = ", ".join(sorted(names)[:20])
        yield fail("imap.folders", f"inbox {imap.folder!r} does not exist", f"set imap.folder to one of: {known}")
    for setting, name in (("processed_folder", imap.processed_folder), ("skipped_folder", imap.skipped_folder),
                          ("quarantine_folder", imap.quarantine_folder)):
        try:
            on_server = source.folder(name)
        except SourceError as exc:
            yield fail("imap.folders", f"{setting} {name!r}: {exc}", "name a folder, or a role the server has")
            continue
        if on_server in names:
            yield ok("imap.folders", f"{setting} {name!r} exists as {on_server!r}")
        else:
            yield ok("imap.folders", f"{setting} {name!r} does not exist yet; `run` creates it at start"
                     f" as {on_server!r}")


def check_capabilities(ctx: Context) -> Iterator[Result]:
    """MOVE, UIDPLUS and IDLE: what the server offers and what the service does without each."""
    client = ctx.imap()
    caps = {c.decode() if isinstance(c, bytes) else str(c) for c in client.capabilities()}
    without = {
        "MOVE": "messages are filed with COPY + \\Deleted instead",
        "UIDPLUS": "filed messages stay flagged \\Deleted in the inbox until someone expunges",
        "IDLE": "new mail waits for the next poll (imap.poll_interval_seconds)",
    }
    for cap, consequence in without.items():
        if cap in caps:
            yield ok(f"imap.{cap.lower()}", f"server supports {cap}")
        else:
            yield ok(f"imap.{cap.lower()}", f"server lacks {cap}: {consequence}")


def check_maildir(ctx: Context) -> Result:
    """The Maildir inbox exists (or is seeded with the demo)."""
    settings = ctx.settings
    if settings.service.source != "maildir":
        raise Skip(f"service.source is {settings.service.source!r}")
    path = settings.maildir.path
    if (path / "cur").is_dir() or (path / "new").is_dir():
        return ok("maildir", f"{path} is a Maildir")
    if settings.maildir.seed_demo:
        return ok("maildir", f"{path} does not exist; `run` seeds it with the demo messages")
    return fail("maildir", f"{path} is not a Maildir (no cur/ or new/)", "set maildir.path to a Maildir directory")


CHECKS = [check_maildir, check_login, check_folders, check_capabilities]
