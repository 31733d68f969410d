"""`bso-ingest check`: small checks, each one line: ok / FAIL (with the fix) / skip.

A check is a function `(ctx: Context) -> Result | Iterable[Result]` with no
side effects on the mailbox, Zendesk or the ledger.  Each module here lists
its checks in `CHECKS`; `MODULES` says which modules run, in order.  To add a
check (a Zendesk field, an OAuth provider): write the function in the module
of its area (or a new module, added to MODULES) and append it to that
module's CHECKS.

Checks share connections through the Context (`ctx.imap()`, `ctx.zendesk()`,
`ctx.memo`), so the mailbox is logged in to once.  A check whose
precondition failed raises `Skip` (shown as `skip`, not a second failure); an
unexpected exception becomes a FAIL naming it, never a traceback.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from imapclient import IMAPClient

    from ingest.settings import Settings
    from ingest.zendesk import ZendeskClient

log = logging.getLogger(__name__)

Status = Literal["ok", "fail", "skip"]

MODULES = ("ingest.checks.ledger", "ingest.checks.imap", "ingest.checks.zendesk", "ingest.checks.fields")


@dataclass(frozen=True)
class Result:
    """One line of `check`: `name` is dotted by area (imap.login), `fix` says what to do on a failure."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def ok(name: str, detail: str) -> Result:
    return Result(name, "ok", detail)


def fail(name: str, detail: str, fix: str) -> Result:
    return Result(name, "fail", detail, fix)


class Skip(Exception):
    """Raised by a check whose precondition failed elsewhere (the login it needs)."""


@dataclass
class Context:
    """What the checks share: settings, one IMAP login, one Zendesk client, a memo."""

    settings: "Settings"
    memo: dict[str, Any] = field(default_factory=dict)
    _imap: Any = None
    _zendesk: Any = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def imap(self) -> "IMAPClient":
        """The logged-in IMAP client; raises Skip when imap.login failed (it reported why)."""
        if self._imap is None:
            raise Skip("needs an IMAP login (see imap.login)")
        return self._imap

    def set_imap(self, client: "IMAPClient") -> None:
        self._imap = client

        def _logout() -> None:
            with contextlib.suppress(Exception):  # best effort: the check is over
                client.logout()

        self._closers.append(_logout)

    def zendesk(self) -> "ZendeskClient":
        """The Zendesk client once credentials were accepted; raises Skip otherwise."""
        if self._zendesk is None:
            raise Skip("needs Zendesk credentials accepted (see zendesk.auth)")
        return self._zendesk

    def set_zendesk(self, client: "ZendeskClient") -> None:
        self._zendesk = client
        self._closers.append(client.session.close)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


Check = Callable[[Context], "Result | Iterable[Result]"]


def all_checks() -> list[Check]:
    checks: list[Check] = []
    for name in MODULES:
        checks.extend(importlib.import_module(name).CHECKS)
    return checks


def run_checks(settings: "Settings", checks: Iterable[Check] | None = None) -> Iterator[Result]:
    """Runs every check in order, yielding its lines as they come."""
    ctx = Context(settings)
    try:
        for check in all_checks() if checks is None else checks:
            yield from _run_one(check, ctx)
    finally:
        ctx.close()


def _run_one(check: Check, ctx: Context) -> Iterator[Result]:
    area = check.__module__.rsplit(".", 1)[-1]
    name = getattr(check, "check_name", None) or f"{area}.{check.__name__.removeprefix('check_')}"
    try:
        produced = check(ctx)
        results = [produced] if isinstance(produced, Result) else list(produced)
    except Skip as skip:
        yield Result(name, "skip", str(skip))
        return
    except Exception as exc:  # a check must report, not crash the command
        log.debug("check %s crashed", name, exc_info=True)
        yield fail(name, f"the check itself failed: {type(exc).__name__}: {exc}", "report this as a bug")
        return
    yield from results
