"""The Maildir source: local demos, dry runs and sites that deliver to Maildir.

The inbox is the Maildir at `maildir.path`; outcomes are filed into its
Maildir++ sub-folders `.processed`, `.skipped` and `.quarantine`.  A message's
`ref` is its Maildir key (the file name without the ":2,FLAGS" info), which it
keeps in every folder.

Filing is one `rename` within the same directory tree, which is atomic: after a
crash a message is in the inbox or in its outcome folder, never in both and
never in neither.  (mailbox.Maildir has no move; add+remove would copy.)
"""
from __future__ import annotations

import glob
import logging
import mailbox
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from ingest.errors import AckError, FetchError
from ingest.outcomes import Outcome
from ingest.settings import MaildirSettings
from ingest.source import RawMessage

log = logging.getLogger(__name__)

FOLDERS = {"created": "processed", "commented": "processed", "skipped": "skipped", "quarantined": "quarantine"}


def demo_messages() -> list[tuple[str, bytes]]:
    """The packaged demo messages (ingest/demo/*.eml), by file name."""
    demo = resources.files("ingest") / "demo"
    return sorted((entry.name, entry.read_bytes()) for entry in demo.iterdir() if entry.name.endswith(".eml"))


def seed_demo(path: Path) -> int:
    """Creates the Maildir at `path` holding the demo messages; returns how many."""
    box = mailbox.Maildir(path, factory=None, create=True)
    messages = demo_messages()
    for _name, raw in messages:
        box.add(raw)
    log.info("seeded demo inbox %s with %d messages", path, len(messages))
    return len(messages)


class MaildirSource:
    def __init__(self, settings: MaildirSettings) -> None:
        self.path = Path(settings.path)
        if not self.path.exists() and settings.seed_demo:
            seed_demo(self.path)
        try:
            # An existing empty directory is accepted as a new Maildir.
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.path, factory=None, create=True)
            self._folders = {name: self._folder(name) for name in set(FOLDERS.values())}
        except OSError as exc:
            raise FetchError(f"cannot open Maildir {self.path}: {exc}") from exc

    def _folder(self, name: str) -> mailbox.Maildir:
        if name in self._box.list_folders():
            return self._box.get_folder(name)
        return self._box.add_folder(name)

    def folder_path(self, name: str) -> Path:
        """Where the `processed`/`skipped`/`quarantine` folder lives on disk."""
        return self.path / f".{name}"

    # -- Source -----------------------------------------------------------

    def fetch(self) -> Iterator[RawMessage]:
        """Messages in the inbox, oldest delivery first."""
        yield from self._read(self.path, self._box)

    def ack(self, msg: RawMessage, outcome: Outcome) -> None:
        if outcome.kind not in FOLDERS:
            raise ValueError(f"outcome {outcome.kind!r} is not final; the message stays in the inbox")
        self._move(msg.ref, self.path, self.folder_path(FOLDERS[outcome.kind]))

    # -- quarantine -------------------------------------------------------

    def quarantined(self) -> Iterator[RawMessage]:
        yield from self._read(self.folder_path("quarantine"), self._folders["quarantine"])

    def requeue(self, msg: RawMessage) -> None:
        """Moves a message from the quarantine folder back to the inbox."""
        self._move(msg.ref, self.folder_path("quarantine"), self.path)

    def inbox_status(self) -> tuple[int, datetime | None]:
        """(messages in the inbox, delivery time of the oldest), for the metrics."""
        try:
            times = [entry.stat().st_mtime for sub in ("new", "cur") for entry in (self.path / sub).iterdir()
                     if entry.is_file()]
        except OSError as exc:
            raise FetchError(f"listing Maildir {self.path}: {exc}") from exc
        return len(times), datetime.fromtimestamp(min(times), timezone.utc) if times else None

    def wait_for_mail(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Maildir has no push; the service sleeps until the next poll."""
        return False

    def close(self) -> None:
        pass

    # -- helpers ----------------------------------------------------------

    @staticmethod
    def _read(path: Path, box: mailbox.Maildir) -> Iterator[RawMessage]:
        try:
            keys = [(_locate(path, key), key) for key in box.keys()]
            ordered = sorted((p.stat().st_mtime, key, p) for p, key in keys if p is not None)
        except OSError as exc:
            raise FetchError(f"listing Maildir {path}: {exc}") from exc
        for _mtime, key, file in ordered:
            try:
                raw = file.read_bytes()
            except FileNotFoundError:  # filed meanwhile by another process
                continue
            except OSError as exc:
                raise FetchError(f"reading {file}: {exc}") from exc
            yield RawMessage(ref=key, raw=raw, origin=str(file),
                             received_at=datetime.fromtimestamp(_mtime, timezone.utc))

    @staticmethod
    def _move(key: str, source: Path, target: Path) -> None:
        file = _locate(source, key)
        if file is None:
            raise AckError(f"Maildir message {key} is no longer in {source}")
        # Keep new/ vs cur/ and the flags: only the folder changes.
        destination = target / file.parent.name / file.name
        try:
            os.rename(file, destination)
        except OSError as exc:
            raise AckError(f"moving Maildir message {key} to {target}: {exc}") from exc


def _locate(path: Path, key: str) -> Path | None:
    """The file holding `key` in new/ or cur/ (where it carries ":2,FLAGS")."""
    new = path / "new" / key
    if new.exists():
        return new
    cur = path / "cur"
    for candidate in (cur / key, *cur.glob(f"{glob.escape(key)}{mailbox.Maildir.colon}*")):
        if candidate.exists():
            return candidate
    return None

