"""Checks of the mail source: IMAP login, folders and capabilities (or the Maildir)."""
from __future__ import annotations

import ssl
from collections.abc import Iterator

from imapclient.exceptions import LoginError

from ingest.checks import Context, Result, Skip, fail, ok
from ingest.errors import SourceError

SECRET_FIX = "set BSO_INGEST_IMAP__PASSWORD or BSO_INGEST_IMAP__PASSWORD_FILE (or imap.oauth_token for XOAUTH2)"


def check_login(ctx: Context) -> Result:
    """Logs in to IMAP with the configured credentials (nothing is selected or changed)."""
    from ingest.sources.imap import CONNECTION_ERRORS, open_client

    settings = ctx.settings
    if settings.service.source != "imap":
        raise Skip(f"service.source is {settings.service.source!r}")
    imap = settings.imap
    target = f"{imap.host}:{imap.port}"
    if not imap.username:
        return fail("imap.login", "imap.username is empty", "set imap.username (or BSO_INGEST_IMAP__USERNAME)")
    if imap.password is None and imap.oauth_token is None:
        return fail("imap.login", "the IMAP password is missing: neither imap.password nor imap.oauth_token is set",
                    SECRET_FIX)
    try:
        client = open_client(imap)
    except SourceError as exc:
        return fail("imap.login", str(exc), "set imap.ssl = true or \"starttls\"")
    except LoginError as exc:
        return fail("imap.login", f"{target} refused the login of {imap.username!r}: {exc}",
                    "check imap.username and the password (BSO_INGEST_IMAP__PASSWORD[_FILE])")
    except ssl.SSLError as exc:
        return fail("imap.login", f"TLS with {target} failed: {exc}",
                    "check imap.ssl (true for IMAPS on 993, \"starttls\" on 143) and the server's certificate")
    except CONNECTION_ERRORS as exc:
        return fail("imap.login", f"cannot connect to {target}: {type(exc).__name__}: {exc}",
                    "check imap.host, imap.port and that the network lets this container reach it")
    ctx.set_imap(client)
    how = "XOAUTH2" if imap.oauth_token is not None else "LOGIN"
    return ok("imap.login", f"logged in to {target} as {imap.username} ({how})")


def check_folders(ctx: Context) -> Iterator[Result]:
    """The inbox must exist; the outcome folders exist or are created at the first start."""
    client = ctx.imap()
    imap = ctx.settings.imap
    delimiter = "/"
    folders = client.list_folders()
    for _flags, delim, _name in folders:
        if delim:
            delimiter = delim.decode() if isinstance(delim, bytes) else str(delim)
            break
    names = {str(name) for _flags, _delim, name in folders}

    def on_server(name: str) -> str:
        return delimiter.join(part for part in name.split("/") if part) if delimiter != "/" else name

    if on_server(imap.folder) in names or imap.folder.upper() == "INBOX":
        yield ok("imap.folders", f"inbox {imap.folder!r} exists")
    else:
        known = ", ".join(sorted(names)[:20])
        yield fail("imap.folders", f"inbox {imap.folder!r} does not exist", f"set imap.folder to one of: {known}")
    for setting, name in (("processed_folder", imap.processed_folder), ("skipped_folder", imap.skipped_folder),
                          ("quarantine_folder", imap.quarantine_folder)):
        if on_server(name) in names:
            yield ok("imap.folders", f"{setting} {name!r} exists")
        else:
            yield ok("imap.folders", f"{setting} {name!r} does not exist yet; `run` creates it at start")


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
