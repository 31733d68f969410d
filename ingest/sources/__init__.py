"""Mailbox sources: IMAP (production) and Maildir (demos, dry runs, local delivery).

Both implement ingest.source.Source plus what the service and the quarantine
command need: `wait_for_mail(timeout, stop)`, `quarantined()`, `requeue(msg)`
and `close()`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from ingest.outcomes import Outcome
from ingest.settings import Settings
from ingest.source import RawMessage


class Mailbox(Protocol):
    def fetch(self) -> Iterator[RawMessage]: ...

    def ack(self, msg: RawMessage, outcome: Outcome) -> None: ...

    def wait_for_mail(self, timeout: float, stop: Callable[[], bool] = ...) -> bool:
        """Blocks until new mail may be there (True) or timeout/stop (False)."""
        ...

    def quarantined(self) -> Iterator[RawMessage]: ...

    def requeue(self, msg: RawMessage) -> None: ...

    def close(self) -> None: ...


def build_source(settings: Settings) -> Mailbox:
    """The source `service.source` names, configured from its settings section."""
    if settings.service.source == "imap":
        from ingest.sources.imap import ImapSource

        return ImapSource(settings.imap)
    from ingest.sources.maildir import MaildirSource

    return MaildirSource(settings.maildir)


def describe(settings: Settings) -> str:
    """The mailbox identity for logs and the lock: which inbox this run reads."""
    if settings.service.source == "imap":
        imap = settings.imap
        return f"imap://{imap.username}@{imap.host}:{imap.port}/{imap.folder}"
    return f"maildir:{settings.maildir.path}"
