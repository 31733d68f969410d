"""The IMAP mailbox source, on imapclient.

- UIDs only, never sequence numbers; a message's `ref` is "UIDVALIDITY:UID" so
  an ack never touches the wrong message after the server renumbers a folder.
- Bodies are read with `BODY.PEEK[]`, in batches, so nothing is marked \\Seen
  by us, and every message not yet filed is processed whether someone opened it
  in Outlook or not.
- Memory: RFC822.SIZE comes first; a batch holds at most `imap.batch_size`
  messages and `imap.batch_bytes` bytes (a larger message is fetched alone),
  and `set_gate` lets the service hold back the next FETCH until its bytes fit
  beside the messages still being worked on.  A message over
  `imap.max_message_bytes` is never downloaded: only its header block is read
  and it is handed over `unread`, to be quarantined with the reason.  One
  that runs out of memory while being fetched is handled the same way.
  imaplib's protocol trace (which imapclient switches on, and which formats
  every FETCH answer, literals included, even when nothing is logged) stays
  off unless `imap.trace` asks for it.
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
from ingest.auth import TokenProvider, build_provider
from ingest.errors import AckError, AuthError, FetchError, SourceError, TokenUnavailable
from ingest.net import is_loopback
from ingest.outcomes import Outcome
from ingest.settings import ImapSettings
from ingest.source import RawMessage

log = logging.getLogger(__name__)

# IDLE re-issue interval once a server is found not to announce mail in IDLE:
# each DONE makes it report what arrived meanwhile.
SILENT_IDLE_RENEW_SECONDS = 5.0

# RFC 6154 roles a folder setting may name instead of a path.
SPECIAL_USE = {"\\all", "\\archive", "\\drafts", "\\flagged", "\\junk", "\\sent", "\\trash", "\\important"}

# What a dropped or confused connection raises inside imapclient/imaplib.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError, EOFError)

ClientFactory = Callable[[ImapSettings], IMAPClient]
# Asked before each FETCH with the bytes it will bring in; may block (ingest/drain.py).
Gate = Callable[[int], None]
# UIDs per FETCH of sizes: a short answer, whatever the folder holds.
SIZE_CHUNK = 1000
# The header block of a message read unread: enough for ids and sender.
HEADER_BYTES = 256 * 1024


def set_trace(client: IMAPClient, trace: bool) -> None:
    """imaplib's debug output on (level 5, what imapclient sets) or off.

    imapclient sets imaplib's `debug = 5` on every connection; imaplib then
    builds a repr of each untagged answer (a whole FETCH literal included) for
    its log whatever the log level: for a 30 MB message, ~100 MB of strings.
    There is no public switch, so the attribute is set here.
    """
    imap = getattr(client, "_imap", None)
    if imap is not None:
        imap.debug = 5 if trace else 0


def check_transport(settings: ImapSettings) -> None:
    """Refuses plaintext IMAP to anything but loopback, unless allowed."""
    if settings.ssl is False and not settings.allow_plaintext and not is_loopback(settings.host):
        raise SourceError(
            f"refusing plaintext IMAP to {settings.host}:{settings.port}: set imap.ssl = true or \"starttls\""
            " (or imap.allow_plaintext = true on a trusted network)"
        )


def open_client(settings: ImapSettings) -> IMAPClient:
    """Connects and secures (TLS); the caller owns the client and logs in (ImapSource._login)."""
    check_transport(settings)
    context = ssl.create_default_context()
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.ssl is True,
        ssl_context=context if settings.ssl is True else None,
        timeout=settings.timeout_seconds,
    )
    set_trace(client, settings.trace)
    try:
        if settings.ssl == "starttls":
            # Raises when the server lacks STARTTLS or the handshake fails:
            # we never carry on in plaintext.
            client.starttls(context)
    except BaseException:
        _shutdown_quietly(client)
        raise
    return client


class _XOAuth2:
    """The SASL XOAUTH2 exchange: our one message, then an empty answer to the server's error.

    On a refusal the server sends a JSON error as a challenge (RFC 7628
    style, e.g. {"status":"401",...}); answering the token again would send
    the secret twice, so we answer empty and keep the error for the log.
    """

    def __init__(self, user: str, token: str) -> None:
        self._payload = f"user={user}\1auth=Bearer {token}\1\1".encode()
        self._sent = False
        self.error = ""

    def __call__(self, challenge: bytes) -> bytes:
        if not self._sent:
            self._sent = True
            return self._payload
        self.error = challenge.decode("utf-8", "replace")[:200]
        return b""


def _shutdown_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # the connection is being thrown away anyway
        client.shutdown()


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan_batches(
    uids: Sequence[int], sizes: dict[int, int], *, count: int, max_bytes: int
) -> Iterator[list[int]]:
    """Consecutive UIDs in batches of at most `count` messages and `max_bytes` bytes.

    A message larger than `max_bytes` makes a batch of its own."""
    batch: list[int] = []
    held = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= count or held + size > max_bytes):
            yield batch
            batch, held = [], 0
        batch.append(uid)
        held += size
    if batch:
        yield batch


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


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
        provider: TokenProvider | None = None,
    ) -> None:
        check_transport(settings)
        self.settings = settings
        self._connect = connect
        self._clock = clock
        self.provider = provider if provider is not None else build_provider(settings)
        self._client: IMAPClient | None = None
        self._validity: dict[str, int] = {}
        # The personal namespace (RFC 2342) the server put us in: configured
        # folder paths ("BSO/Processed") live under its prefix, with its separator.
        self._delimiter = "/"
        self._prefix = ""
        self._foreign_prefixes: tuple[str, ...] = ()
        self._special: dict[str, str] = {}
        self._selected: str | None = None
        # Highest inbox UID the last fetch saw, for the check before IDLE.
        self._last_uid: int | None = None
        # Silent-IDLE detection: the last wait ran IDLE to its end unannounced.
        self._idle_unannounced = False
        self._idle_renew = settings.idle_renew_seconds
        self._warned: set[str] = set()
        self._renew_retry_at = 0.0
        # For the metrics and /readyz: a reconnect is counted, a refused login remembered.
        self._connected_before = False
        self.auth_failed = False
        self._gate: Gate | None = None
        # (UIDVALIDITY, UID) -> why it could not be read whole, for this process's life.
        self._unreadable: dict[tuple[int, int], str] = {}

    @property
    def connected(self) -> bool:
        return self._client is not None

    def set_gate(self, gate: Gate | None) -> None:
        """`gate(nbytes)` is called before each FETCH of bodies; None removes it."""
        self._gate = gate

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
            # A token first: when the identity provider refuses us, no IMAP
            # connection is opened for nothing.
            self.provider.token()
            client = self._connect(self.settings)
        except AuthError:
            self._refused()
            raise
        except CONNECTION_ERRORS as exc:
            raise FetchError(f"cannot connect to IMAP {self.target}: {exc}") from exc
        try:
            self._login(client)
        except BaseException as exc:
            _shutdown_quietly(client)
            if isinstance(exc, AuthError):
                self._refused()
            if isinstance(exc, CONNECTION_ERRORS) and not isinstance(exc, LoginError):
                raise FetchError(f"logging in to IMAP {self.target}: {exc}") from exc
            raise
        self._client = client
        self._connected_before = True
        self.auth_failed = False
        try:
            self._learn_namespace(client)
            for name in (self.settings.processed_folder, self.settings.skipped_folder, self.settings.quarantine_folder):
                self._ensure_folder(client, self.folder(name))
            self._check_expunge(client)
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"preparing folders on IMAP {self.target}: {exc}") from exc
        except FetchError:
            self._drop()
            raise
        log.info("connected to IMAP %s as %s (%s)", self.target, self.settings.username, self.provider.describe())
        return client

    def _refused(self) -> None:
        metrics.AUTH_FAILURES.labels(service="imap").inc()
        self.auth_failed = True

    def open_readonly(self) -> IMAPClient:
        """Connects, logs in and learns the namespace, creating nothing (for `check`); the caller closes it."""
        try:
            client = self._connect(self.settings)
        except CONNECTION_ERRORS as exc:
            raise FetchError(f"cannot connect to IMAP {self.target}: {exc}") from exc
        try:
            self._login(client)
            self._learn_namespace(client)
        except BaseException as exc:
            _shutdown_quietly(client)
            if isinstance(exc, CONNECTION_ERRORS) and not isinstance(exc, LoginError):
                raise FetchError(f"logging in to IMAP {self.target}: {exc}") from exc
            raise
        return client

    def _login(self, client: IMAPClient) -> None:
        """LOGIN or AUTHENTICATE XOAUTH2; a refused token is replaced once by a fresh one.

        A token the server refuses may just be older than the server likes
        (revoked, or expired early): invalidate it and try once with a new
        one.  A refused fresh token, or a refused password, is an AuthError.
        """
        provider = self.provider
        who = f"IMAP login as {self.settings.username!r} at {self.target} ({provider.describe()})"
        token = provider.token()
        if provider.mechanism == "LOGIN":
            try:
                client.login(self.settings.username, token)
            except LoginError as exc:
                raise AuthError(f"{who} refused: {exc}", who=provider.describe(), code="LOGIN") from None
            return
        refusal = self._authenticate(client, token)
        if refusal is None:
            return
        provider.invalidate()
        fresh = provider.token()
        if fresh != token:
            log.info("%s: the server refused the current token (%s); trying once with a new one", who, refusal)
            refusal = self._authenticate(client, fresh)
            if refusal is None:
                return
        raise AuthError(f"{who} refused a fresh token: {refusal}", who=provider.describe(), code=refusal)

    def _authenticate(self, client: IMAPClient, token: str) -> str | None:
        """None when XOAUTH2 succeeded, else the server's refusal (its error status and text)."""
        mechanism = _XOAuth2(self.settings.username, token)
        try:
            client.sasl_login("XOAUTH2", mechanism)
        except LoginError as exc:
            detail = str(exc)
            if mechanism.error:
                detail = f"{detail} {mechanism.error}"
            return detail.strip()[:300] or "refused"
        return None

    def _learn_namespace(self, client: IMAPClient) -> None:
        prefix, delimiter = "", ""
        foreign: list[str] = []
        if client.has_capability("NAMESPACE"):
            try:
                space = client.namespace()
                if space.personal:
                    prefix, delimiter = space.personal[0][0], space.personal[0][1] or ""
                for group in (space.other, space.shared):
                    foreign += [entry[0] for entry in group or () if entry[0]]
            except IMAPClientError as exc:
                log.debug("NAMESPACE failed on %s (%s); using LIST", self.target, exc)
        self._prefix = prefix
        self._delimiter = delimiter or self._folder_delimiter(client)
        self._foreign_prefixes = tuple(foreign)
        self._special = self._special_use(client)

    def _folder_delimiter(self, client: IMAPClient) -> str:
        try:
            for _flags, delimiter, _name in client.list_folders(pattern=""):
                if delimiter:
                    return delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter)
        except IMAPClientError:
            pass
        return "/"

    @staticmethod
    def _special_use(client: IMAPClient) -> dict[str, str]:
        """RFC 6154 roles ("\\Archive", "\\Junk") -> the folder the server gave each."""
        if not (client.has_capability("SPECIAL-USE") or client.has_capability("XLIST")):
            return {}
        roles: dict[str, str] = {}
        try:
            for flags, _delimiter, name in client.list_folders():
                for flag in flags:
                    text = flag.decode() if isinstance(flag, bytes) else str(flag)
                    if text.lower() in SPECIAL_USE:
                        roles.setdefault(text.lower(), name)
        except IMAPClientError:
            return {}
        return roles

    def folder(self, name: str) -> str:
        """A configured folder ("BSO/Processed") as this server names it.

        Paths in the settings use "/"; here they get the server's separator
        and, unless they already name it, the personal namespace's prefix
        ("INBOX." on Courier, Cyrus and many hosted Dovecots).  "INBOX" is
        itself, and a SPECIAL-USE role ("\\Archive") is the folder the server
        gave that role.
        """
        if name.upper() == "INBOX":
            return "INBOX"
        if name.startswith("\\"):
            found = self._special.get(name.lower())
            if found is None:
                raise FetchError(f"IMAP {self.target} has no folder with the SPECIAL-USE role {name}")
            return found
        path = self._delimiter.join(part for part in name.split("/") if part)
        if not self._prefix or self._inside(path, self._prefix) or self._outside_personal(path):
            return path
        return self._prefix + path

    @staticmethod
    def _inside(path: str, prefix: str) -> bool:
        if prefix.upper().startswith("INBOX"):  # INBOX is case-insensitive (RFC 3501)
            return (path + prefix[-1:]).upper().startswith(prefix.upper())
        return (path + prefix[-1:]).startswith(prefix)

    def _outside_personal(self, path: str) -> bool:
        return any(self._inside(path, prefix) for prefix in self._foreign_prefixes)

    def _ensure_folder(self, client: IMAPClient, name: str) -> None:
        if name.upper() == "INBOX" or name in self._special.values() or client.folder_exists(name):
            return
        if (self._prefix and not self._inside(name, self._prefix)) or self._outside_personal(name):
            raise FetchError(
                f"IMAP folder {name!r} does not exist and is outside the personal namespace"
                f" {self._prefix!r} of {self.target}: we never create folders there; create it, or name"
                f" one inside (e.g. \"BSO/Processed\" becomes {self._prefix + 'BSO' + self._delimiter + 'Processed'!r})"
            )
        try:
            client.create_folder(name)
            client.subscribe_folder(name)
        except IMAPClientError:
            # Another replica may have created it in between.
            if not client.folder_exists(name):
                raise
        log.info("created IMAP folder %s", name)

    def _check_expunge(self, client: IMAPClient) -> None:
        if client.has_capability("MOVE") or client.has_capability("UIDPLUS"):
            return
        if self.settings.expunge_without_uidplus:
            self._once("expunge", "IMAP %s has neither MOVE nor UIDPLUS: filed mail is removed from %s with a plain"
                       " EXPUNGE (imap.expunge_without_uidplus), which also removes what other clients flagged"
                       " \\Deleted there", self.target, self.settings.folder)
        else:
            self._once("expunge", "IMAP %s has neither MOVE nor UIDPLUS: filed mail stays in %s flagged \\Deleted"
                       " (we skip it) until someone expunges; for an inbox only this service uses, set"
                       " imap.expunge_without_uidplus = true", self.target, self.settings.folder)

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

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

    def _read(self, name: str) -> Iterator[RawMessage]:
        """Reads the configured folder `name`, resolved once the server told us its namespace."""
        client = self._connected()
        folder = self.folder(name)
        try:
            validity = self._select(client, folder)
            # \Deleted ones were already copied out (the no-MOVE path) and
            # await an expunge; everything else is ours, \Seen or not.
            uids = sorted(client.search(["NOT", "DELETED"]))
            sizes = self._sizes(client, uids)
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"searching IMAP folder {folder} at {self.target}: {exc}") from exc
        if name == self.settings.folder:
            self._note_unannounced(uids)
            self._last_uid = max(uids, default=0)
        limit = self.settings.max_message_bytes
        readable = []
        for uid in uids:
            if uid not in sizes:  # expunged meanwhile by another client
                continue
            if sizes[uid] > limit:
                self._unreadable.setdefault(
                    (validity, uid),
                    f"{_mb(sizes[uid])} is over imap.max_message_bytes ({_mb(limit)}): quarantined unread;"
                    " raise the limit and replay it to make it a ticket",
                )
            readable.append(uid)
        for batch in plan_batches(readable, sizes, count=self.settings.batch_size, max_bytes=self.settings.batch_bytes):
            unread = [uid for uid in batch if (validity, uid) in self._unreadable]
            for uid in unread:
                msg = self._headers_only(folder, validity, uid)
                if msg is not None:
                    yield msg
            wanted = [uid for uid in batch if (validity, uid) not in self._unreadable]
            if not wanted:
                continue
            if self._gate is not None:
                self._gate(sum(sizes[uid] for uid in wanted))
            data = self._fetch_bodies(folder, validity, wanted)
            for uid in wanted:
                # pop: the batch must not keep a message alive once handed over.
                item = data.pop(uid, {})
                body = item.get(b"BODY[]")
                if body is None:
                    if (validity, uid) in self._unreadable:
                        msg = self._headers_only(folder, validity, uid)
                        if msg is not None:
                            yield msg
                    continue  # expunged meanwhile by another client
                yield RawMessage(ref=f"{validity}:{uid}", raw=bytes(body), origin=f"imap {folder} uid {uid}",
                                 received_at=_aware(item.get(b"INTERNALDATE")))
                del body, item

    def _sizes(self, client: IMAPClient, uids: Sequence[int]) -> dict[int, int]:
        sizes: dict[int, int] = {}
        for chunk in _chunks(uids, SIZE_CHUNK):
            for uid, item in client.fetch(chunk, ["RFC822.SIZE"]).items():
                if b"RFC822.SIZE" in item:
                    sizes[uid] = int(item[b"RFC822.SIZE"])
        return sizes

    def _fetch_bodies(self, folder: str, validity: int, batch: list[int]) -> dict[int, dict[bytes, object]]:
        """BODY.PEEK[] of `batch`; a MemoryError marks the message unreadable instead of looping on it."""
        try:
            client = self._connected()
            self._select(client, folder)
            return dict(client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"]))
        except MemoryError:
            # The connection is mid-answer: start over on a new one.  Alone,
            # the message is quarantined by its headers; in a batch, each is
            # tried alone.
            self._drop()
            if len(batch) == 1:
                log.error("imap %s uid %s: out of memory while fetching it; quarantining it unread", folder, batch[0])
                self._unreadable[(validity, batch[0])] = "out of memory while fetching it: quarantined unread"
                return {}
            data: dict[int, dict[bytes, object]] = {}
            for uid in batch:
                data.update(self._fetch_bodies(folder, validity, [uid]))
            return data
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"fetching UIDs {batch[0]}..{batch[-1]} from IMAP folder {folder}: {exc}") from exc

    def _headers_only(self, folder: str, validity: int, uid: int) -> RawMessage | None:
        """The message's header block, handed over `unread` (quarantined with the reason)."""
        part = f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>"
        try:
            client = self._connected()
            self._select(client, folder)
            data = client.fetch([uid], [part])
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"fetching the headers of UID {uid} from IMAP folder {folder}: {exc}") from exc
        item = data.get(uid, {})
        head = next((v for k, v in item.items() if isinstance(k, bytes) and k.startswith(b"BODY[HEADER]")), None)
        if head is None:
            return None
        return RawMessage(ref=f"{validity}:{uid}", raw=bytes(head), origin=f"imap {folder} uid {uid}",
                          unread=self._unreadable[(validity, uid)])

    def inbox_status(self) -> tuple[int, datetime | None]:
        """(messages waiting in the inbox, INTERNALDATE of the oldest): read-only, for the metrics."""
        client = self._connected()
        try:
            self._select(client, self.folder(self.settings.folder))
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
        self._move(msg, self.settings.folder, self.folder_for(outcome))

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

    def _move(self, msg: RawMessage, source_name: str, target_name: str) -> None:
        """Moves `msg` between two configured folders, named as the server names them."""
        validity, uid = parse_ref(msg.ref)
        try:
            client = self._connected()
            source, target = self.folder(source_name), self.folder(target_name)
        except FetchError as exc:
            raise AckError(f"UID {uid}: cannot move to {target_name}: {exc}") from exc
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
                elif self.settings.expunge_without_uidplus:
                    client.expunge()  # opted in: a dedicated inbox (see _check_expunge)
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
        yield from self._read(self.settings.quarantine_folder)

    def requeue(self, msg: RawMessage) -> None:
        """Moves a message from the quarantine folder back to the inbox."""
        self._move(msg, self.settings.quarantine_folder, self.settings.folder)

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
        to drop an IDLE after 30 minutes), or every few seconds on a server
        found to stay silent in IDLE (see _note_unannounced): the answer to
        each DONE carries what arrived meanwhile.  An OAuth token is renewed
        here too when its margin is reached, so the next login has one ready.
        Returns False at once when IDLE is off or unsupported; the caller then
        just sleeps until the next poll.  A dropped connection raises
        FetchError; the next call reconnects.
        """
        self._idle_unannounced = False
        if not self.settings.idle:
            return False
        client = self._connected()
        deadline = self._clock() + timeout
        try:
            self._select(client, self.folder(self.settings.folder))
            if not client.has_capability("IDLE"):
                return False
            if self._arrived_since_fetch(client):
                return True
            client.idle()
            idling = True
            started_idle = self._clock()
            renew_at = started_idle + self._idle_renew
            announced = False
            try:
                while not stop():
                    now = self._clock()
                    if now >= deadline:
                        break
                    self._renew_token()
                    if now >= renew_at:
                        idling = False
                        if _announces(client.idle_done()):
                            announced = True
                            break
                        client.idle()
                        idling = True
                        renew_at = now + self._idle_renew
                    # Short slices so a stop request is seen within a second.
                    wait = min(1.0, deadline - now, max(renew_at - now, 0.0))
                    started = time.monotonic()
                    responses = client.idle_check(timeout=wait)
                    if any(_is_new_mail(r) for r in responses):
                        announced = True
                        break
                    if any(r and r[0] == b"BYE" for r in responses):
                        idling = False
                        self._drop()
                        raise FetchError(f"IMAP {self.target} closed the connection during IDLE: {responses}")
                    if not responses and time.monotonic() - started < wait / 2:
                        # idle_check returns [] at once on EOF too; a DONE
                        # round trip tells a dead socket from a spurious wakeup.
                        idling = False
                        if _announces(client.idle_done()):
                            announced = True
                            break
                        client.idle()
                        idling = True
                revealed = False
            finally:
                ours = self._client is client  # not dropped by the BYE path
                if idling and ours:
                    # What arrived meanwhile comes with the answer to DONE,
                    # even from a server that said nothing during IDLE.
                    revealed = _announces(client.idle_done())
            # Ran IDLE for a while and heard nothing: if the fetch that follows
            # finds new mail, this server does not announce it in IDLE.
            self._idle_unannounced = not announced and self._clock() - started_idle >= 2.0
            return announced or revealed
        except FetchError:
            self._drop()
            raise
        except CONNECTION_ERRORS as exc:
            self._drop()
            raise FetchError(f"IDLE on IMAP {self.settings.folder} at {self.target} failed: {exc}") from exc

    def _note_unannounced(self, uids: Sequence[int]) -> None:
        """Called by each inbox fetch: new mail after a silent IDLE means the server's IDLE is silent."""
        silent = self._idle_unannounced and self._last_uid is not None and any(u > self._last_uid for u in uids)
        self._idle_unannounced = False
        if silent and self._idle_renew > SILENT_IDLE_RENEW_SECONDS:
            self._idle_renew = SILENT_IDLE_RENEW_SECONDS
            log.warning(
                "IMAP %s did not announce new mail during IDLE (the poll found it): re-issuing IDLE every %.0fs"
                " from now on, so mail is still picked up within seconds. The server can be fixed instead:"
                " Courier IMAP_ENHANCEDIDLE=1 (with FAM/gamin), Cyrus with idled running (docs/MAILBOXES.md)",
                self.target, SILENT_IDLE_RENEW_SECONDS,
            )

    def _renew_token(self) -> None:
        """Renews an OAuth token during a long IDLE; failures wait for the next login (at most one try a minute)."""
        now = self._clock()
        if now < self._renew_retry_at:
            return
        try:
            self.provider.renew_if_due()
        except (AuthError, TokenUnavailable) as exc:
            self._renew_retry_at = now + 60.0
            log.warning("renewing the IMAP token during IDLE failed: %s; the next login tries again", exc)


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


def _announces(done: tuple[object, list[tuple[object, ...]]] | None) -> bool:
    """Whether the untagged answers to IDLE's DONE announce new mail."""
    return bool(done) and any(_is_new_mail(r) for r in (done[1] or []))  # type: ignore[index]
