"""The ledger: one row per message key, so every message ends in exactly one place.

Protocol (the pipeline drives it; see ingest/pipeline.py):

    claim(key)  ──▶  sink.create/comment  ──▶  record(key, outcome)  ──▶  source.ack

- `claim` inserts a row in state `claimed` or, when the key is known, returns the
  existing row, so the caller can tell "already done: just ack again" (a final
  state) from "claimed earlier but never finished" (a crash or a timeout: call
  the sink again, idempotently).
- A claim is a lease (ingest/leases.py): the row names its owner and an
  expiry.  `claim` grants the lease (`Claim.lease`) on a new key, on an
  unfinished one nobody holds, on an expired lease and on one whose process
  is provably dead; the take-over is one conditional UPDATE, so of two
  claimers exactly one wins.  A live lease held elsewhere gives `Claim.busy`:
  leave the message alone for now.  `renew` extends a lease we hold.
- `record(lease, ...)` stores the final outcome (created | commented | skipped
  | quarantined) and `fail(lease, ...)` counts a transient failure (the message
  stays claimed, to be retried); both require our lease and raise `LeaseLost`
  when another process took the message over meanwhile.  `fail` ends the
  lease; `record` leaves it to expire, as it covers filing the mail (ack):
  a final row leased by another live process is `busy` too.
  `abandon` clears our lease and changes nothing else (an error propagates).
- `release` puts a quarantined message back to `claimed` with 0 attempts
  (quarantine replay).  `claimed_at` is kept on purpose: it tells the pipeline
  whether the Zendesk Idempotency-Key of the first try may have expired.

Storage is SQLAlchemy Core, portable between SQLite (the default; WAL and a
busy timeout so a CLI `send` and the service can share the file) and
PostgreSQL (replicas sharing an inbox).  Every timestamp is stored as naive
UTC and handed back timezone-aware (UTC), so both back ends behave the same.
Database failures are raised as `LedgerError`: they are never a reason to
quarantine a message, the caller leaves it unacknowledged instead.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from ingest import metrics
from ingest.errors import LeaseLost, LedgerError
from ingest.leases import DEFAULT_LEASE_SECONDS, MAX_OWNER, Lease, new_owner, owner_is_dead, same_process
from ingest.outcomes import Commented, Created, Final, Quarantined, Skipped
from ingest.redact import redact_url

log = logging.getLogger(__name__)

State = Literal["claimed", "created", "commented", "skipped", "quarantined"]
FINAL_STATES: frozenset[str] = frozenset({"created", "commented", "skipped", "quarantined"})
# SQLite waits this long for another writer (a `send` beside the service)
# before it reports "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# RFC 5322 caps a header line at 998 characters; longer ids are cut, not refused.
MAX_MESSAGE_ID = 998
MAX_SENDER = 320


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive UTC in the database.

    SQLite has no time zones and PostgreSQL's `timestamp without time zone`
    compares the same way, so storing naive UTC keeps `since`/`older_than`
    comparisons identical on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"ledger timestamps must be timezone-aware, got naive {value!r}")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    # Email.key (hex sha256 prefix) or "raw:<sha256>" for unparseable bytes.
    Column("key", String(128), primary_key=True),
    # Normalized "<id>" form, so In-Reply-To/References match however they were written.
    Column("message_id", Text, nullable=True, index=True),
    # Lowercased sender address, for the per-sender rate guard.
    Column("sender", String(MAX_SENDER), nullable=False, default=""),
    Column("subject", Text, nullable=False, default=""),
    # Where the message was last seen (IMAP "UIDVALIDITY:UID", Maildir name, a path).
    Column("source_ref", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("ticket_id", BigInteger, nullable=True),
    Column("reason", Text, nullable=True),
    # Transient failures so far; at service.max_attempts the message is quarantined.
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # The claim's lease (ingest/leases.py): who works on the message, until when.
    # NULL when nobody does (new rows always get one; record/fail clear it).
    Column("lease_owner", String(MAX_OWNER), nullable=True),
    Column("lease_expires", UTCDateTime, nullable=True),
    # Another message claimed earlier with this Message-ID but other content
    # (its key): a collision, which threading never follows.
    Column("collides_with", String(128), nullable=True),
    Index("ix_messages_sender_claimed_at", "sender", "claimed_at"),
    Index("ix_messages_state_updated_at", "state", "updated_at"),
)

# The Zendesk account's fields, forms and organizations, cached for a restart
# with Zendesk down (ingest/zendesk_meta.py reads and writes it; revision 0003).
zendesk_metadata = Table(
    "zendesk_metadata",
    metadata,
    Column("name", String(64), primary_key=True),
    # {"ticket_fields": [...], "ticket_forms": [...], "organizations": [...]} as the API returned them.
    Column("body", Text, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class Row:
    """One ledger row, as stored."""

    key: str
    message_id: str | None
    sender: str
    subject: str
    source_ref: str
    state: str
    ticket_id: int | None
    reason: str | None
    attempts: int
    claimed_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    collides_with: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def outcome(self) -> Final | None:
        """The recorded final outcome, or None while the row is only claimed."""
        reason = self.reason or ""
        if self.state == "created" and self.ticket_id is not None:
            return Created(ticket_id=self.ticket_id, reason=reason)
        if self.state == "commented" and self.ticket_id is not None:
            return Commented(ticket_id=self.ticket_id, reason=reason)
        if self.state == "skipped":
            return Skipped(reason=reason, ticket_id=self.ticket_id)
        if self.state == "quarantined":
            return Quarantined(reason=reason, ticket_id=self.ticket_id)
        return None


@dataclass(frozen=True)
class Claim:
    """What `claim` found: a fresh claim, an unfinished one, or a finished message.

    `fresh` is True only when this call inserted the row.  Otherwise `state`
    says what happened before: a final state means "already done, ack again";
    `claimed` means an earlier try never finished (crash, timeout, deferral).
    `lease` is ours to process the message with; None when it is final or
    `busy`: another live owner holds it (an unfinished message), or has just
    recorded it and is filing it in the source now (a final one).
    """

    key: str
    state: str
    attempts: int
    ticket_id: int | None
    claimed_at: datetime
    fresh: bool
    row: Row
    lease: Lease | None = None
    busy: bool = False

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def raw_key(raw: bytes) -> str:
    """Ledger key of bytes that could not be parsed into an Email (no Email.key)."""
    return "raw:" + hashlib.sha256(raw).hexdigest()


def _text(value: str | None, limit: int | None = None) -> str:
    """Text a mail put in our hands, made storable everywhere.

    PostgreSQL refuses NUL characters and enforces VARCHAR lengths; a hostile
    or broken message must not make its own claim fail forever.
    """
    text = (value or "").replace("\x00", "")
    return text[:limit] if limit is not None else text


def normalize_message_id(value: str | None) -> str | None:
    """'<a@b>', ' a@b ' and '<a@b> (comment)' all become '<a@b>'; '' becomes None."""
    if not value:
        return None
    core = value.strip()
    if "<" in core and ">" in core[core.index("<"):]:
        start = core.index("<")
        core = core[start + 1 : core.index(">", start)]
    core = _text(core).strip().strip("<>").strip()[:MAX_MESSAGE_ID]
    return f"<{core}>" if core else None


class Ledger:
    """The message ledger on one SQLAlchemy engine.  Thread-safe; one per process.

    Build it with `Ledger.from_url(settings.ledger.url)` (migrates the schema
    to the newest revision and, for a SQLite file, creates its directory) or
    `Ledger.in_memory()` for a dry run, whose state vanishes with the process.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # One shared connection (in-memory SQLite) takes one transaction at a
        # time: the lease renewer thread must not interleave with the caller.
        self._serial: Any = threading.RLock() if isinstance(engine.pool, StaticPool) else nullcontext()
        # The schema comes from the Alembic revisions only (ingest/migrate.py):
        # never created or recreated beside them.
        from ingest.migrate import upgrade

        self.migration = upgrade(engine)
        # The SQLite file this ledger writes, and its (device, inode) now: a
        # file deleted or replaced under a running service must stop it
        # writing into an unlinked inode (history lost at the next restart).
        self.file = _sqlite_file(engine)
        self._identity = _identity(self.file) if self.file is not None else None

    def check_file(self) -> None:
        """Raises LedgerError when the ledger's SQLite file was deleted or replaced since it was opened."""
        if self.file is None or self._identity is None:
            return
        now = _identity(self.file)
        if now == self._identity:
            return
        what = "deleted" if now is None else "replaced by another file"
        raise LedgerError(
            f"the ledger file {self.file} was {what} while this process had it open; nothing more is"
            " written to the old one. Restore the file (or move the new one away) and restart the service"
        )

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_url(cls, url: str) -> "Ledger":
        """Opens the ledger at a SQLAlchemy URL, creating and migrating its schema as needed."""
        return cls(cls.engine_for(url))

    @staticmethod
    def engine_for(url: str) -> Engine:
        """The engine the ledger uses for `url` (a SQLite file's directory is created)."""
        try:
            parsed = make_url(url)
        except Exception as exc:  # ArgumentError, ValueError: both mean a bad setting
            raise LedgerError(f"ledger.url is not a SQLAlchemy URL: {redacted_url(url)!r}") from exc
        if parsed.get_backend_name() != "sqlite":
            try:
                return create_engine(parsed, pool_pre_ping=True)
            except Exception as exc:  # a missing driver (psycopg) or a bad option: a setting to fix
                raise LedgerError(f"cannot use ledger.url {redacted_url(url)}: {type(exc).__name__}: {exc}") from exc
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return _sqlite_engine(parsed, memory=True)
        directory = Path(database).expanduser().parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger directory {directory}: {exc.strerror or exc} (running as"
                              f" uid {os.getuid()}); mount a volume writable by this user there") from exc
        try:
            # A real write, not os.access: root on an immutable or read-only mount passes access().
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as exc:
            # SQLite would fail later with a bare "unable to open database file".
            raise LedgerError(f"the ledger directory {directory.absolute()} is not writable by uid {os.getuid()}"
                              f" gid {os.getgid()} ({exc.strerror or exc}): mount a volume writable by this user"
                              " there (SQLite writes the database and its -wal/-shm files in it)") from None
        return _sqlite_engine(parsed, memory=False)

    @classmethod
    def in_memory(cls) -> "Ledger":
        """A private SQLite ledger in memory: same behaviour, no state left behind."""
        return cls(_sqlite_engine(make_url("sqlite://"), memory=True))

    def close(self) -> None:
        self.engine.dispose()

    # -- the claim → record protocol ------------------------------------------

    def claim(
        self,
        key: str,
        *,
        message_id: str | None,
        sender: str,
        subject: str,
        ref: str,
        now: datetime,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Claim:
        """Claims `key` for processing, or returns what the ledger already knows.

        A new key is inserted as `claimed` (attempts 0) and `fresh` is True.  A
        known key is returned as stored (`fresh` False), except that its
        `source_ref` is updated: the same mail may come back under another
        UID or file name, and `ack` needs the latest one.  Concurrent claims
        of one key are safe: exactly one caller gets `fresh=True`, and of the
        callers that find it unfinished at most one gets its lease.
        """
        owner = new_owner()
        expires = now + timedelta(seconds=lease_seconds)
        mid = normalize_message_id(message_id)
        values = {
            "key": key,
            "message_id": mid,
            "sender": _text(sender, MAX_SENDER).strip().lower(),
            "subject": _text(subject),
            "source_ref": _text(ref),
            "state": "claimed",
            "ticket_id": None,
            "reason": None,
            "attempts": 0,
            "claimed_at": now,
            "updated_at": now,
            "finished_at": None,
            "lease_owner": owner,
            "lease_expires": expires,
        }
        with self._begin("claim", key) as conn:
            fresh = self._insert_new(conn, values)
            if fresh and mid:
                self._note_collision(conn, key, mid)
            if not fresh and ref:
                conn.execute(update(messages).where(messages.c.key == key).values(source_ref=_text(ref)))
            row = self._get(conn, key)
            if row is not None and not fresh and not row.final:
                taken = self._take_over(conn, row, owner, expires, now)
                row = self._get(conn, key) if taken else row
        if row is None:  # pragma: no cover - inserted or found in the same transaction
            raise LedgerError(f"claim of {key} vanished")
        lease = Lease(key, owner, expires) if row.lease_owner == owner else None
        if row.final:
            # Recorded, and its recorder may be filing it right now: another
            # process acking too would file the mail twice.  Our own process
            # acks before it looks again; a dead or expired owner never will.
            busy = (row.lease_owner is not None and row.lease_expires is not None and row.lease_expires > now
                    and not same_process(row.lease_owner) and not owner_is_dead(row.lease_owner))
        else:
            busy = lease is None
        return Claim(
            key=key,
            state=row.state,
            attempts=row.attempts,
            ticket_id=row.ticket_id,
            claimed_at=row.claimed_at,
            fresh=fresh,
            row=row,
            lease=lease,
            busy=busy,
        )

    def renew(self, lease: Lease, now: datetime, seconds: float = DEFAULT_LEASE_SECONDS) -> Lease | None:
        """Extends our lease to `now + seconds`; None when it is no longer ours."""
        expires = now + timedelta(seconds=seconds)
        with self._begin("renew", lease.key) as conn:
            result = conn.execute(
                update(messages)
                .where(*self._held(lease))
                .values(lease_expires=expires)
            )
        return Lease(lease.key, lease.owner, expires) if result.rowcount else None

    def record(self, lease: Lease, outcome: Final, now: datetime) -> None:
        """Stores the final outcome of a message we hold the lease on.

        The lease stays until it expires: it covers filing the mail in the
        source (ack) too, so another process finding the outcome leaves the
        mail to us (`Claim.busy`).  Deferred is not final: use `fail`.
        Raises LeaseLost when another process took the message over,
        LedgerError when it was never claimed.
        """
        if outcome.kind not in FINAL_STATES:
            raise ValueError(f"record() takes a final outcome, got {outcome.kind}; use fail() for a deferral")
        with self._begin("record", lease.key) as conn:
            result = conn.execute(
                update(messages)
                .where(*self._held(lease))
                .values(
                    state=outcome.kind,
                    ticket_id=outcome.ticket_id,
                    reason=_text(outcome.reason) or None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            if result.rowcount == 0:
                self._not_held(conn, lease, f"record {outcome.kind}")

    def fail(self, lease: Lease, reason: str, now: datetime) -> int:
        """Counts one transient failure and ends our lease; returns attempts so far.

        The message stays `claimed`: the next claim (any process) takes it up.
        """
        with self._begin("fail", lease.key) as conn:
            result = conn.execute(
                update(messages)
                .where(*self._held(lease))
                .values(attempts=messages.c.attempts + 1, reason=_text(reason), updated_at=now,
                        lease_owner=None, lease_expires=None)
            )
            if result.rowcount == 0:
                self._not_held(conn, lease, "fail")
            attempts = conn.execute(select(messages.c.attempts).where(messages.c.key == lease.key)).scalar_one()
        return int(attempts)

    def abandon(self, lease: Lease) -> None:
        """Ends our lease and changes nothing else: the next claim takes the message up."""
        with self._begin("abandon", lease.key) as conn:
            conn.execute(update(messages).where(*self._held(lease)).values(lease_owner=None, lease_expires=None))

    def release(self, key: str, now: datetime) -> bool:
        """Quarantine replay: makes a quarantined message claimable again.

        State goes back to `claimed` with 0 attempts; `claimed_at` is kept so
        the pipeline still looks the ticket up first when the first try is
        older than the Idempotency-Key lifetime.  Returns False when `key` is
        not quarantined (unknown, or in another state).
        """
        with self._begin("release", key) as conn:
            result = conn.execute(
                update(messages)
                .where(messages.c.key == key, messages.c.state == "quarantined")
                .values(state="claimed", attempts=0, updated_at=now, finished_at=None, lease_owner=None,
                        lease_expires=None)
            )
        return result.rowcount > 0

    # -- queries --------------------------------------------------------------

    def get(self, key: str) -> Row | None:
        """The row for `key`, or None."""
        with self._connect("get", key) as conn:
            return self._get(conn, key)

    def ticket_for_message_ids(self, ids: list[str]) -> int | None:
        """The ticket of a message whose Message-ID is one of `ids` (threading).

        `ids` are In-Reply-To/References values, brackets optional, in order
        of preference: the first id that has a ticket wins.  Only rows with a
        ticket count, never a collision; among rows sharing one Message-ID the
        first claimed wins, so a later mail reusing the id cannot redirect
        replies to its own ticket.
        """
        order = [mid for mid in dict.fromkeys(normalize_message_id(i) for i in ids) if mid]
        if not order:
            return None
        query = (
            select(messages.c.message_id, messages.c.ticket_id)
            .where(messages.c.message_id.in_(order), messages.c.ticket_id.is_not(None),
                   messages.c.collides_with.is_(None))
            .order_by(messages.c.claimed_at, messages.c.key)
        )
        first: dict[str, int] = {}
        with self._connect("ticket_for_message_ids", ",".join(order)) as conn:
            for mid, ticket in conn.execute(query):
                first.setdefault(mid, int(ticket))
        return next((first[mid] for mid in order if mid in first), None)

    def count_from_sender(self, sender: str, since: datetime) -> int:
        """Messages from `sender` claimed at or after `since` (rate guard).

        Counts every state, including the message just claimed.
        """
        query = select(func.count()).select_from(messages).where(
            messages.c.sender == _text(sender, MAX_SENDER).strip().lower(), messages.c.claimed_at >= since
        )
        with self._connect("count_from_sender", sender) as conn:
            return int(conn.execute(query).scalar_one())

    def quarantined(self) -> list[Row]:
        """Every quarantined message, oldest first."""
        return self._rows(messages.c.state == "quarantined", what="quarantined")

    def pending(self, older_than: datetime) -> list[Row]:
        """Claimed rows untouched since before `older_than`: to reconcile on restart."""
        return self._rows(messages.c.state == "claimed", messages.c.updated_at < older_than, what="pending")

    def stats(self) -> dict[str, int]:
        """Number of messages by state (states with none are 0)."""
        query = select(messages.c.state, func.count()).group_by(messages.c.state)
        with self._connect("stats", "-") as conn:
            counts = {state: int(n) for state, n in conn.execute(query)}
        return {state: counts.get(state, 0) for state in ("claimed", *sorted(FINAL_STATES))} | counts

    # -- internals -------------------------------------------------------------

    @staticmethod
    def _take_over(conn: Connection, row: Row, owner: str, expires: datetime, now: datetime) -> bool:
        """Gives an unfinished row's lease to `owner` if nobody holds it live.

        One conditional UPDATE: free, expired, or still held by the very
        owner we found dead.  Of two processes racing here, the database lets
        exactly one match (the second sees the first's new owner).
        """
        free = or_(messages.c.lease_owner.is_(None), messages.c.lease_expires <= now)
        if owner_is_dead(row.lease_owner):
            free = or_(free, messages.c.lease_owner == row.lease_owner)
        result = conn.execute(
            update(messages)
            .where(messages.c.key == row.key, messages.c.state == "claimed", free)
            .values(lease_owner=owner, lease_expires=expires)
        )
        if result.rowcount and row.lease_owner:
            metrics.LEASES_TAKEN_OVER.inc()
            log.info("took over the claim of %s from %s (lease expired or its process is gone)",
                     row.key, row.lease_owner)
        return bool(result.rowcount)

    @staticmethod
    def _note_collision(conn: Connection, key: str, message_id: str) -> None:
        """A new row whose Message-ID an earlier, different message has: record and log it (once)."""
        earlier = conn.execute(
            select(messages.c.key)
            .where(messages.c.message_id == message_id, messages.c.key != key, messages.c.collides_with.is_(None))
            .order_by(messages.c.claimed_at, messages.c.key)
            .limit(1)
        ).scalar_one_or_none()
        if earlier is None:
            return
        conn.execute(update(messages).where(messages.c.key == key).values(collides_with=earlier))
        metrics.MESSAGE_ID_COLLISIONS.inc()
        log.warning("Message-ID collision: %s was already used by another message (key %s) with other content;"
                    " key %s will never steer a reply into a ticket", message_id, earlier, key)

    @staticmethod
    def _held(lease: Lease) -> tuple[Any, ...]:
        return messages.c.key == lease.key, messages.c.state == "claimed", messages.c.lease_owner == lease.owner

    def _not_held(self, conn: Connection, lease: Lease, what: str) -> None:
        row = self._get(conn, lease.key)
        if row is None:
            raise LedgerError(f"{what} for {lease.key}: the message was never claimed")
        raise LeaseLost(f"{what} for {lease.key}: the claim is now {row.state}, held by {row.lease_owner or 'nobody'}"
                        " (our lease expired and another process took it over)")

    def _insert_new(self, conn: Connection, values: dict[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row."""
        dialect = self.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            # RETURNING says whether this statement inserted; rowcount is not
            # reliable for INSERT ... ON CONFLICT across drivers.
            stmt = (
                dialect_insert(messages)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(messages.c.key)
            )
            return conn.execute(stmt).first() is not None
        # Other back ends: a savepoint keeps the outer transaction usable after the conflict.
        try:
            with conn.begin_nested():
                conn.execute(insert(messages).values(**values))
            return True
        except IntegrityError:
            return False

    def _rows(self, *where: Any, what: str) -> list[Row]:
        query = select(messages).where(*where).order_by(messages.c.claimed_at, messages.c.key)
        with self._connect(what, "-") as conn:
            return [Row(**r._mapping) for r in conn.execute(query)]

    @staticmethod
    def _get(conn: Connection, key: str) -> Row | None:
        found = conn.execute(select(messages).where(messages.c.key == key)).first()
        return None if found is None else Row(**found._mapping)

    @contextmanager
    def _begin(self, operation: str, key: str) -> Iterator[Connection]:
        """A write transaction; database errors become LedgerError naming the key."""
        self.check_file()
        try:
            with self._serial, self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger {operation} failed for {key}: {_brief(exc)}") from exc

    @contextmanager
    def _connect(self, operation: str, key: str) -> Iterator[Connection]:
        try:
            with self._serial, self.engine.connect() as conn:
                conn.execution_options(ledger_read_only=True)
                yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger {operation} failed for {key}: {_brief(exc)}") from exc


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def redacted_url(url: str) -> str:
    """The ledger URL as it may be shown: password masked (logs, errors, the lock file)."""
    return redact_url(url)


def _brief(exc: SQLAlchemyError) -> str:
    """The driver's first line: no SQL text or bound parameters (customer data) in logs."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def _sqlite_engine(url: Any, *, memory: bool) -> Engine:
    """SQLite tuned for one writer beside readers: WAL, a busy timeout, real BEGINs."""
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        # One shared connection, or every pool checkout would see an empty database.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and ignores
        # SAVEPOINTs; take it over so SQLAlchemy's transactions are real.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock up front (IMMEDIATE): two writers then queue
        # on the busy timeout instead of failing on a read-to-write upgrade.
        # Readers use a plain BEGIN, which WAL never blocks.
        read_only = conn.get_execution_options().get("ledger_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
