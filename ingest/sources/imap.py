"""The IMAP mailbox source, on imapclient.

- UIDs only, never sequence numbers; a message's `ref` is "UIDVALIDITY:UID" so
  an ack never touches the wrong message after the server renumbers a folder.
- Bodies are read with `BODY.PEEK[]`, in batches, so nothing is marked \\Seen
  by us, and every message not yet filed is processed whether someone opened it
  in Outlook or not.
- A message is moved out of the inbox only in `ack`, which the service calls
  after the ledger recorded the outcome.  MOVE where the server has it, else
  COPY + \\Deleted + UID EXPUNGE.
- TLS always (IMAPS or STARTTLS), unless the host is loopback or
  `imap.allow_plaintext` says otherwise; a failed STARTTLS is an error, never
  a silent fall back to plaintext.
- Any connection failure drops the connection and raises FetchError/AckError;
  the next call reconnects (the service backs off between attempts).
"""
from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone

from imapclient import DELETED, IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from ingest import metrics
from ingest.errors import AckError, FetchError, SourceError
from ingest.net import is_loopback
from ingest.outcomes import Outcome
from ingest.settings import ImapSettings
from ingest.source import RawMessage

log = logging.getLogger(__name__)

# What a dropped or confused connection raises inside imapclient/imaplib.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError, EOFError)

ClientFactory = Callable[[ImapSettings], IMAPClient]


def check_transport(settings: ImapSettings) -> None:
    """Refuses plaintext IMAP to anything but loopback, unless allowed."""
    if settings.ssl is False and not settings.allow_plaintext and not is_loopback(settings.host):
        raise SourceError(
            f"refusing plaintext IMAP to {settings.host}:{settings.port}: set imap.ssl = true or \"starttls\""
            " (or imap.allow_plaintext = true on a trusted network)"
        )


def open_client(settings: ImapSettings) -> IMAPClient:
    """Connects, secures and logs in; the caller owns the returned client."""
    check_transport(settings)
    context = ssl.create_default_context()
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.ssl is True,
        ssl_context=context if settings.ssl is True else None,
        timeout=settings.timeout_seconds,
    )
    try:
        if settings.ssl == "starttls":
            # Raises when the server lacks STARTTLS or the handshake fails:
            # we never carry on in plaintext.
            client.starttls(context)
        if settings.oauth_token is not None:
            client.oauth2_login(settings.username, settings.oauth_token.get_secret_value())
        else:
            password = settings.password.get_secret_value() if settings.password else ""
            client.login(settings.username, password)
    except BaseException:
        _shutdown_quietly(client)
        raise
    return client


def _shutdown_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # the connection is being thrown away anyway
        client.shutdown()


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def parse_ref(ref: str) -> tuple[int, int]:
    """"UIDVALIDITY:UID" -> (uidvalidity, uid)."""
    validity, _, uid = ref.partition(":")
    return int(validity), int(uid)


class ImapSource:
    """Reads one IMAP folder and files each message by its outcome."""

    def __init__(
        self,
        settings: ImapSettings,
        *,
        connect: ClientFactory = open_client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_transport(settings)
        self.settings = settings
        self._connect = connect
        self._clock = clock
        self._client: IMAPClient | None = None
        self._validity: dict[str, int] = {}
        self._delimiter = "/"
        self._selected: str | None = None
        # Highest inbox UID the last fetch saw, for the check before IDLE.
        self._last_uid: int | None = None
        # For the metrics and /readyz: a reconnect is counted, a refused login remembered.
        self._connected_before = False
        self.auth_failed = False

    @property
    def connected(self) -> bool:
        return self._client is not None

    # -- connection -------------------------------------------------------

    @property
    def target(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _connected(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        if self._connected_before:
            metrics.IMAP_RECONNECTS.inc()
        try:
            client = self._connect(self.settings)
        except LoginError as exc:
            metrics.AUTH_FAILURES.labels(service="imap").inc()
            self.auth_failed = True
            raise FetchError(f"IMAP login as {self.settings.username!r} at {self.target} refused: {exc}") from exc
        except CONNECTION_ERRORS as exc:
            raise FetchError(f"cannot connect to IMAP {self.target}: {exc}") from exc
        self._client = client
        self._connected_before = True
        self.auth_failed = False
        try:
            self._delimiter = self._folder_delimiter(client)
            for name in (self.settings.processed_folder, self.settings.skipped_folder, self.settings.quarantine_folder):
                self._ensure_folder(client, self.folder(name))
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"preparing folders on IMAP {self.target}: {exc}") from exc
        log.info("connected to IMAP %s as %s", self.target, self.settings.username)
        return client

    def _folder_delimiter(self, client: IMAPClient) -> str:
        try:
            for _flags, delimiter, _name in client.list_folders(pattern=""):
                if delimiter:
                    return delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter)
        except IMAPClientError:
            pass
        return "/"

    def folder(self, name: str) -> str:
        """A configured folder path ("BSO/Processed") in the server's hierarchy."""
        return self._delimiter.join(part for part in name.split("/") if part) if self._delimiter != "/" else name

    @staticmethod
    def _ensure_folder(client: IMAPClient, name: str) -> None:
        if client.folder_exists(name):
            return
        try:
            client.create_folder(name)
            client.subscribe_folder(name)
        except IMAPClientError:
            # Another replica may have created it in between.
            if not client.folder_exists(name):
                raise
        log.info("created IMAP folder %s", name)

    def _select(self, client: IMAPClient, folder: str) -> int:
        """Selects `folder` (once) and returns its UIDVALIDITY."""
        if self._selected != folder:
            info = client.select_folder(folder)
            validity = int(info[b"UIDVALIDITY"])
            known = self._validity.get(folder)
            if known is not None and known != validity:
                log.warning("UIDVALIDITY of %s changed %s -> %s: UIDs were renumbered", folder, known, validity)
            self._validity[folder] = validity
            self._selected = folder
        return self._validity[folder]

    def _drop(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            _shutdown_quietly(client)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # a polite LOGOUT; the socket closes anyway
                self._client.logout()
        self._drop()

    # -- Source -----------------------------------------------------------

    def fetch(self) -> Iterator[RawMessage]:
        """Every message in the folder not yet filed, oldest UID first, in batches."""
        yield from self._read(self.settings.folder)

    def _read(self, folder: str) -> Iterator[RawMessage]:
        client = self._connected()
        try:
            validity = self._select(client, folder)
            # \Deleted ones were already copied out (the no-MOVE path) and
            # await an expunge; everything else is ours, \Seen or not.
            uids = sorted(client.search(["NOT", "DELETED"]))
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"searching IMAP folder {folder} at {self.target}: {exc}") from exc
        if folder == self.settings.folder:
            self._last_uid = max(uids, default=0)
        for batch in _chunks(uids, self.settings.batch_size):
            try:
                self._select(client, folder)
                data = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
            except CONNECTION_ERRORS as exc:
                self._drop()
                raise FetchError(f"fetching UIDs {batch[0]}..{batch[-1]} from IMAP folder {folder}: {exc}") from exc
            for uid in batch:
                body = data.get(uid, {}).get(b"BODY[]")
                if body is None:  # expunged meanwhile by another client
                    continue
                yield RawMessage(ref=f"{validity}:{uid}", raw=bytes(body), origin=f"imap {folder} uid {uid}",
                                 received_at=_aware(data[uid].get(b"INTERNALDATE")))

    def inbox_status(self) -> tuple[int, datetime | None]:
        """(messages waiting in the inbox, INTERNALDATE of the oldest): read-only, for the metrics."""
        client = self._connected()
        try:
            self._select(client, self.settings.folder)
            uids = client.search(["NOT", "DELETED"])
            if not uids:
                return 0, None
            oldest = client.fetch([min(uids)], ["INTERNALDATE"]).get(min(uids), {}).get(b"INTERNALDATE")
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"inbox status of {self.settings.folder} at {self.target}: {exc}") from exc
        return len(uids), _aware(oldest)

    def ack(self, msg: RawMessage, outcome: Outcome) -> None:
        """Moves the message to the folder its (final) outcome names."""
        target = self.folder(self.folder_for(outcome))
        self._move(msg, self.settings.folder, target)

    def folder_for(self, outcome: Outcome) -> str:
        folders = {
            "created": self.settings.processed_folder,
            "commented": self.settings.processed_folder,
            "skipped": self.settings.skipped_folder,
            "quarantined": self.settings.quarantine_folder,
        }
        if outcome.kind not in folders:
            raise ValueError(f"outcome {outcome.kind!r} is not final; the message stays in the inbox")
        return folders[outcome.kind]

    def _move(self, msg: RawMessage, source: str, target: str) -> None:
        validity, uid = parse_ref(msg.ref)
        try:
            client = self._connected()
        except FetchError as exc:
            raise AckError(f"UID {uid}: cannot move to {target}: {exc}") from exc
        try:
            current = self._select(client, source)
            if current != validity:
                raise AckError(
                    f"UID {uid} of {source}: UIDVALIDITY changed ({validity} -> {current}); the message is"
                    " fetched again under its new UID and filed then"
                )
            if client.has_capability("MOVE"):
                client.move([uid], target)
            else:
                client.copy([uid], target)
                client.add_flags([uid], [DELETED], silent=True)
                # Without UIDPLUS a plain EXPUNGE would also remove messages
                # other clients flagged; leave ours \Deleted (fetch skips them).
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge([uid])
        except AckError:
            raise
        except IMAPClientError as exc:
            if "EXPUNGEISSUED" not in str(exc).upper():
                self._drop()
                raise AckError(f"UID {uid} of {source}: moving to {target} failed: {exc}") from exc
            # RFC 5530: the message is gone from the folder, filed by another
            # run sharing the inbox (the ledger kept the two from both acting
            # on it).  Nothing is left to do; the connection is fine.
            log.info("UID %s of %s was already filed by another client", uid, source)
            return
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise AckError(f"UID {uid} of {source}: moving to {target} failed: {exc}") from exc
        log.debug("moved UID %s of %s to %s", uid, source, target)

    # -- quarantine -------------------------------------------------------

    def quarantined(self) -> Iterator[RawMessage]:
        """The raw messages waiting in the quarantine folder."""
        yield from self._read(self.folder(self.settings.quarantine_folder))

    def requeue(self, msg: RawMessage) -> None:
        """Moves a message from the quarantine folder back to the inbox."""
        self._move(msg, self.folder(self.settings.quarantine_folder), self.settings.folder)

    # -- waiting ----------------------------------------------------------

    def _arrived_since_fetch(self, client: IMAPClient) -> bool:
        """Mail that came in after the last fetch's SEARCH, before this IDLE.

        The server may already have announced it (EXISTS) inside the answer
        to a FETCH or MOVE, where imaplib keeps it to itself; IDLE would then
        not announce it again, and it would wait for the next scheduled poll.
        """
        return self._last_uid is not None and _newer_than(client, self._last_uid)

    def wait_for_mail(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Blocks in IDLE until new mail (True), `timeout` or `stop()` (False).

        IDLE is re-issued every `idle_renew_seconds` (RFC 2177 allows a server
        to drop an IDLE after 30 minutes).  Returns False at once when IDLE is
        off or unsupported; the caller then just sleeps until the next poll.
        A dropped connection raises FetchError; the next call reconnects.
        """
        if not self.settings.idle:
            return False
        client = self._connected()
        deadline = self._clock() + timeout
        try:
            self._select(client, self.settings.folder)
            if not client.has_capability("IDLE"):
                return False
            if self._arrived_since_fetch(client):
                return True
            client.idle()
            renew_at = self._clock() + self.settings.idle_renew_seconds
            try:
                while not stop():
                    now = self._clock()
                    if now >= deadline:
                        return False
                    if now >= renew_at:
                        client.idle_done()
                        client.idle()
                        renew_at = now + self.settings.idle_renew_seconds
                    # Short slices so a stop request is seen within a second.
                    wait = min(1.0, deadline - now, max(renew_at - now, 0.0))
                    started = time.monotonic()
                    responses = client.idle_check(timeout=wait)
                    if any(_is_new_mail(r) for r in responses):
                        return True
                    if any(r and r[0] == b"BYE" for r in responses):
                        self._drop()
                        raise FetchError(f"IMAP {self.target} closed the connection during IDLE: {responses}")
                    if not responses and time.monotonic() - started < wait / 2:
                        # idle_check returns [] at once on EOF too; a DONE
                        # round trip tells a dead socket from a spurious wakeup.
                        client.idle_done()
                        client.idle()
                return False
            finally:
                still_ours = self._client is client  # not dropped by the BYE path
                if still_ours:
                    client.idle_done()
        except FetchError:
            self._drop()
            raise
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"IDLE on IMAP {self.settings.folder} at {self.target} failed: {exc}") from exc


def _aware(value: object) -> datetime | None:
    """imapclient hands INTERNALDATE back as local naive time (normalise_times); make it aware."""
    if not isinstance(value, datetime):
        return None
    return value.astimezone(timezone.utc)


def _newer_than(client: IMAPClient, uid: int) -> bool:
    # "N:*" always matches the highest UID, even one below N: filter it out.
    return any(found > uid for found in client.search(["UID", f"{uid + 1}:*", "NOT", "DELETED"]))


def _is_new_mail(response: tuple[object, ...]) -> bool:
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
