"""`Pipeline.process(msg) -> Outcome`: the one place a message's outcome is decided and recorded.

    parse ─▶ ledger.claim ─▶ classify ─▶ guard ─▶ threading ─▶ route ─▶ sink ─▶ ledger.record

Parsing comes first only because the ledger key *is* `Email.key`; it has no
side effects, so nothing happens to the outside world before the claim.
Bytes that cannot be parsed get the key `raw:<sha256>` and are quarantined.

Exactly-once rules (the caller acknowledges the source after `process`
returns a final outcome, and leaves a `Deferred` message where it is):

- a key already in a final state: the recorded outcome is returned and the
  sink is not called (the caller just acknowledges again);
- a key claimed earlier but never finished (a crash, a deferral): the sink is
  called again.  Within `IDEMPOTENCY_WINDOW` of the first claim Zendesk's
  Idempotency-Key answers with the ticket it already made; after that the sink
  looks the ticket up by external_id first (`lookup_first=True`);
- `ZendeskRejected` (400/422): Quarantined, with Zendesk's details;
- `ZendeskUnavailable` (retries spent): a one-shot probe asks whether Zendesk
  answers at all.  If not, `ZendeskOutage` propagates: an outage is not the
  message's fault, so nothing is counted or recorded and the service's
  circuit breaker (ingest/breaker.py) pauses the inbox.  If Zendesk answers,
  the failure is this message's: Deferred and counted with `ledger.fail`;
- any other failure of the sink: Deferred and counted with `ledger.fail`;
  at `service.max_attempts` it is Quarantined instead;
- `ZendeskAuthError`, `LedgerError` and `StopRequested` (SIGTERM during a
  retry wait) propagate: bad credentials or a broken
  database are the service's problem, not the message's, so it is neither
  quarantined nor acknowledged;
- any unexpected exception in parse, classify, guard, threading or route:
  Quarantined with the stage and the message named (a bug must not become a
  crash loop).

Threading decides between a comment on an open ticket (`sink.comment`, no
routing needed) and a new ticket (`sink.create`, with `followup_of` when the
answered ticket is closed).

Dry run (`service.dry_run`, `send --dry-run`): `build_pipeline` pairs the
DryRunSink with an in-memory ledger, so a dry run leaves no state behind and
the real ledger file is not even opened.
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ingest import metrics
from ingest.drain import order_of
from ingest.errors import (
    IngestError,
    LeaseLost,
    TicketRefused,
    ZendeskAuthError,
    ZendeskError,
    ZendeskOutage,
    ZendeskRejected,
    ZendeskUnavailable,
)
from ingest.guard import check_rate
from ingest.leases import Lease, keep_alive
from ingest.ledger import Claim, Ledger, raw_key
from ingest.outcomes import Deferred, Final, Outcome, Quarantined, Skipped
from ingest.source import RawMessage
from ingest.replies import Thread, find_thread, mention_tags, refusal_fallback
from ingest.trust import MissingLog, Trust, judge
from ingest.zendesk import ZendeskClient
from parsers import Email, ParseError, parse
from parsers.classify import classify
from parsers.pii import mask_email
from routing import Route, route
from routing.account import Account

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.sink import Sink
    from ingest.zendesk_meta import AccountMetadata

log = logging.getLogger(__name__)

# Zendesk keeps an Idempotency-Key for two hours; an older claim may have
# created its ticket already without Zendesk remembering the key.
IDEMPOTENCY_WINDOW = timedelta(hours=2)
# Zendesk's error details can be long; a reason is a line in a list, not a dump.
MAX_DETAILS_CHARS = 2000

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def classify_stage(email: Email, settings: "Settings") -> Email:
    return classify(email, settings.classify_config())


def trust_stage(email: Email, settings: "Settings") -> Trust:
    return judge(email, settings.security)


def route_stage(email: Email, settings: "Settings", account: Account | None = None) -> Route:
    return route(email, settings.routing, settings.zendesk.custom_fields, account)


@dataclass(frozen=True)
class Stages:
    """The stage functions, in the order the pipeline calls them.

    The defaults are the real stages; tests swap one for a fake (a classifier
    that raises, say) without patching modules.
    """

    parse: Callable[[bytes], Email] = parse
    classify: Callable[[Email, "Settings"], Email] = classify_stage
    trust: Callable[[Email, "Settings"], Trust] = trust_stage
    check_rate: Callable[[Email, Ledger, "Settings", datetime], Skipped | None] = check_rate
    find_thread: Callable[[Email, Ledger, "Sink", "Settings"], Thread | None] = find_thread
    # (email, settings, the Zendesk account's field catalogue and directory, or None)
    route: Callable[[Email, "Settings", Account | None], Route] = route_stage


class _StageFailed(Exception):
    """An unexpected exception inside a stage; becomes Quarantined."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage = stage
        self.error = error


class Pipeline:
    """Turns one RawMessage into exactly one recorded Outcome.

    Not thread-safe per message key by itself: the caller processes one
    message at a time (the service holds a lock per mailbox and ledger).
    """

    def __init__(
        self,
        ledger: Ledger,
        sink: "Sink",
        settings: "Settings",
        *,
        now: Clock | None = None,
        stages: Stages | None = None,
        account: Callable[[], Account | None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.sink = sink
        self.settings = settings
        self._now = now or utcnow
        self.stages = stages or Stages()
        self._missing_log = MissingLog()
        # The current field catalogue and organization directory (ingest.zendesk_meta).
        self.account = account or (lambda: None)

    def process(self, msg: RawMessage) -> Outcome:
        """Claims, decides and records the outcome of `msg`; returns it.

        Returns a final outcome (Created, Commented, Skipped, Quarantined) the
        caller must acknowledge, or Deferred: leave the message for a later
        try.  Raises ZendeskAuthError (stop the service) and LedgerError
        (the ledger is unusable; nothing was decided).
        """
        now = self._now()
        email, parse_failure = self._parse(msg)
        key = email.key if email is not None else raw_key(msg.raw)
        lease_seconds = self.settings.ledger.lease_seconds
        # Judged before the claim: the claim's sender is the loop-guard bucket,
        # and failed-authentication mail has its own (ingest.trust).
        trust = self._trust(email) if email is not None else None
        claim = self.ledger.claim(
            key,
            message_id=email.message_id if email else None,
            sender=(trust.budget_sender(email) if trust else email.requester.email) if email else "",
            subject=email.subject if email else "",
            ref=msg.ref,
            now=now,
            lease_seconds=lease_seconds,
        )
        message_id = email.message_id if email else None
        if claim.final and claim.busy:
            # Just recorded by another process, which files the mail itself.
            filing = Deferred("in progress elsewhere: being filed by the process that recorded it", elsewhere=True)
            self._log(msg, message_id, key, filing, note=f"lease held until {claim.row.lease_expires}")
            return filing
        if claim.final:
            recorded = claim.row.outcome()
            if recorded is not None:
                self._log(msg, claim.row.message_id, key, recorded, note="already recorded")
                return recorded
        if claim.lease is None:
            # Another process or worker is on it: not an attempt, not ours to count.
            metrics.CLAIMS_BUSY.inc()
            busy = Deferred("in progress elsewhere", elsewhere=True)
            self._log(msg, message_id, key, busy, note=f"lease held until {claim.row.lease_expires}")
            return busy
        lease = claim.lease
        try:
            with keep_alive(self.ledger, lease, lease_seconds, self._now):
                if email is None:
                    outcome: Outcome = Quarantined(parse_failure or "cannot parse")
                else:
                    outcome = self._decide(email, msg, claim, now, trust)
            # Read the clock again: the sink may have spent its retry budget.
            done = self._now()
            if isinstance(outcome, Deferred):
                outcome = self._defer(lease, outcome, done)
            else:
                self.ledger.record(lease, outcome, done)
        except LeaseLost as exc:
            # Our lease expired mid-way and another owner took the message:
            # it finishes it; we record nothing and leave the mail alone.
            log.warning("%s: %s", _where(msg, email), exc)
            row = self.ledger.get(key)
            recorded = row.outcome() if row is not None else None
            return recorded if recorded is not None else Deferred(f"in progress elsewhere: {exc}", elsewhere=True)
        except BaseException:
            # Auth or ledger failure, a signal: free the message for the next run now.
            with contextlib.suppress(Exception):
                self.ledger.abandon(lease)
            raise
        self._log(msg, message_id, key, outcome)
        return outcome

    def close(self) -> None:
        self.ledger.close()

    def quarantine_unread(self, msg: RawMessage) -> Outcome:
        """A message the source would not read whole (`msg.unread` says why): Quarantined, never parsed.

        `msg.raw` is its header block; the key is what `parse` makes of it
        (or `raw:<sha256>`), which is also what `quarantine replay` finds
        when it reads the same message the same way.
        """
        now = self._now()
        order = order_of(msg.raw)
        try:
            key = self.stages.parse(msg.raw).key
        except Exception:  # headers too broken to parse: the raw key, as for any unparseable mail
            key = raw_key(msg.raw)
        claim = self.ledger.claim(key, message_id=order.message_id, sender=order.sender, subject="", ref=msg.ref,
                                  now=now, lease_seconds=self.settings.ledger.lease_seconds)
        recorded = claim.row.outcome() if claim.final else None
        if recorded is not None:
            self._log(msg, order.message_id, key, recorded, note="already recorded")
            return recorded
        if claim.lease is None:
            return Deferred("in progress elsewhere")
        outcome = Quarantined(f"{_where(msg)}: {msg.unread}")
        self.ledger.record(claim.lease, outcome, now)
        self._log(msg, order.message_id, key, outcome)
        return outcome

    # -- stages ---------------------------------------------------------------

    def _parse(self, msg: RawMessage) -> tuple[Email | None, str | None]:
        try:
            return self.stages.parse(msg.raw), None
        except ParseError as exc:
            return None, f"cannot parse {_where(msg)}: {exc}"
        except Exception as exc:  # a parser bug must quarantine the message, not loop on it
            log.debug("parse crashed on %s", _where(msg), exc_info=True)
            return None, f"parse failed on {_where(msg)}: {type(exc).__name__}: {exc}"

    def _trust(self, email: Email) -> Trust | None:
        """The sender-authentication policy for `email`; None (treated as a stage failure later) on a bug."""
        try:
            trust = self.stages.trust(email, self.settings)
        except Exception:
            log.debug("trust crashed", exc_info=True)
            return None
        self._missing_log(trust)
        return trust

    def _decide(self, email: Email, msg: RawMessage, claim: Claim, now: datetime, trust: Trust | None) -> Outcome:
        """classify → trust → guard → threading → route → sink; errors become outcomes here."""
        settings = self.settings
        try:
            email = self._stage("classify", self.stages.classify, email, settings)
            if email.automated:
                detail = f": {email.automated_reason}" if email.automated_reason else ""
                return Skipped(f"automated ({email.automated}){detail}")
            if trust is None:
                trust = self._stage("trust", self.stages.trust, email, settings)
            metrics.SENDER_AUTH.labels(outcome=trust.verdict.outcome, policy=trust.policy).inc()
            if trust.quarantine:
                return Quarantined(f"sender authentication {trust.verdict.outcome} for {_where(msg, email)}:"
                                   f" {trust.verdict.reason}")
            skipped = self._stage("guard", self.stages.check_rate, email, self.ledger, settings, now)
            if skipped is not None:
                return skipped
            found = self._stage("threading", self.stages.find_thread, email, self.ledger, self.sink, settings)
            # Every threading path passes the sender-authentication policy.
            thread = trust.allow_thread(email, found)
            blocked = found if thread is None else None
            for _ in range(2):  # a merged ticket's target may refuse too; then no further hop
                if thread is None or thread.action != "comment":
                    break
                target, outgoing = thread.ticket_id, self._outgoing(email)
                try:
                    # A claim tried before (a crash after Zendesk took the
                    # comment) looks for the comment's marker first.
                    commented = self._sink_call(
                        "comment", lambda: self.sink.comment(outgoing, target, lookup_first=not claim.fresh)
                    )
                except TicketRefused as refused:
                    # About this ticket, not the service: a follow-up, the merge
                    # target or a new ticket, tagged with why.
                    log.warning("%s: %s", _where(msg, email), refused)
                    metrics.REPLY_FALLBACKS.labels(why=refused.why).inc()
                    thread = refusal_fallback(refused, email)
                    continue
                self._note(commented, trust, None, retried=not claim.fresh)
                return commented
            if thread is not None and thread.action == "comment":
                thread = refusal_fallback(TicketRefused(thread.ticket_id, "forbidden", thread.reason), email)
            ticket_route = self._stage("route", self.stages.route, email, settings, self.account())
            if trust.tags:
                ticket_route = ticket_route.model_copy(update={"tags": [*ticket_route.tags, *trust.tags]})
            extra = list(thread.tags) if thread is not None else mention_tags(email, settings)
            if extra:
                # A reply we did not thread (a stranger's, one Zendesk refused),
                # or a subject naming a ticket: tag the new ticket with it.
                ticket_route = ticket_route.model_copy(update={"tags": list(dict.fromkeys([*ticket_route.tags,
                                                                                          *extra]))})
            # Past the Idempotency-Key lifetime a retry could duplicate the
            # ticket; look it up by external_id before creating.
            lookup_first = not claim.fresh and now - claim.claimed_at > IDEMPOTENCY_WINDOW
            email = self._outgoing(email)
            followup_of = thread.ticket_id if thread is not None and thread.action == "followup" else None
            created = self._sink_call(
                "create",
                lambda: self.sink.create(email, ticket_route, lookup_first=lookup_first, followup_of=followup_of),
            )
            self._note(created, trust, blocked, retried=not claim.fresh)
            return created
        except _StageFailed as failed:
            exc = failed.error
            return Quarantined(f"{failed.stage} failed on {_where(msg, email)}: {type(exc).__name__}: {exc}")
        except ZendeskAuthError:
            raise
        except ZendeskRejected as exc:
            return Quarantined(f"Zendesk rejected {_where(msg, email)}: {_zendesk_error(exc)}")
        except ZendeskUnavailable as exc:
            if not self._zendesk_answers():
                # Zendesk is down, not this message: not counted, not recorded; the service
                # trips its breaker and leaves the inbox alone until Zendesk answers again.
                raise ZendeskOutage(f"{_zendesk_error(exc)} ({_where(msg, email)} stays in the inbox)",
                                    exc.status, exc.details) from exc
            return Deferred(f"Zendesk unavailable for {_where(msg, email)}: {_zendesk_error(exc)}")
        except ZendeskError as exc:  # anything else transient from Zendesk
            return Deferred(f"Zendesk unavailable for {_where(msg, email)}: {_zendesk_error(exc)}")

    def probe(self) -> None:
        """One try at Zendesk, no retries: raises ZendeskUnavailable when it does not answer.

        A sink without a probe (the dry run, test fakes) always answers.
        """
        probe = getattr(self.sink, "probe", None)
        if probe is not None:
            probe()

    def _zendesk_answers(self) -> bool:
        """After a message ran out of retries: is Zendesk answering other requests?"""
        try:
            self.probe()
        except ZendeskUnavailable:
            return False
        return True

    def _outgoing(self, email: Email) -> Email:
        """What goes to Zendesk: with `[security] mask_documents`, no valid CPF/CNPJ in subject or text.

        Called after routing, which reads the mail as written; the ledger and
        the mailbox keep the original."""
        return mask_email(email) if self.settings.security.mask_documents else email

    def _note(self, outcome: Outcome, trust: Trust, blocked: Thread | None, retried: bool = False) -> None:
        """The private note the policy asks for, on the ticket just written; best effort.

        The tag went with the ticket itself; the note is a second update, and
        a failure to add it must not turn a ticket made into a retry that
        could duplicate a comment.  A retried claim (`retried`) looks for the
        note among the ticket's comments first."""
        note = trust.note(blocked)
        if note is None or outcome.ticket_id is None or isinstance(outcome, (Deferred, Quarantined)):
            return
        try:
            self.sink.note(outcome.ticket_id, note, lookup_first=retried)
        except ZendeskAuthError:
            raise
        except Exception as exc:
            log.warning("could not add the sender-authentication note to ticket %s: %s", outcome.ticket_id, exc)

    def _stage(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs one stage; our own errors pass through, anything else is a stage failure."""
        try:
            return fn(*args)
        except IngestError:
            raise
        except Exception as exc:
            log.debug("stage %s crashed", name, exc_info=True)
            raise _StageFailed(name, exc) from exc

    def _sink_call(self, what: str, call: Callable[[], Final]) -> Outcome:
        try:
            return call()
        except IngestError:
            raise
        except Exception as exc:
            # Unexpected here may be transient (a connection error the client
            # did not wrap) or a bug; a counted retry covers both, and
            # max_attempts ends a bug in quarantine.
            log.debug("sink %s crashed", what, exc_info=True)
            return Deferred(f"sink {what} failed: {type(exc).__name__}: {exc}")

    def _defer(self, lease: Lease, deferred: Deferred, now: datetime) -> Outcome:
        limit = self.settings.service.max_attempts
        row = self.ledger.get(lease.key)
        if row is not None and row.attempts + 1 >= limit:
            gave_up = Quarantined(f"gave up after {row.attempts + 1} attempts: {deferred.reason}")
            self.ledger.record(lease, gave_up, now)
            return gave_up
        attempts = self.ledger.fail(lease, deferred.reason, now)
        return Deferred(f"attempt {attempts} of {limit}: {deferred.reason}")

    def _log(self, msg: RawMessage, message_id: str | None, key: str, outcome: Outcome, note: str = "") -> None:
        level = logging.WARNING if outcome.kind in ("quarantined", "deferred") else logging.INFO
        log.log(
            level,
            "%s key=%s message_id=%s origin=%s ticket=%s reason=%s%s",
            outcome.kind,
            key,
            message_id or "-",
            msg.origin or msg.ref,
            outcome.ticket_id if outcome.ticket_id is not None else "-",
            json.dumps(outcome.reason, ensure_ascii=False),
            f" ({note})" if note else "",
            extra={
                "key": key,
                "message_id": message_id,
                "origin": msg.origin or msg.ref,
                "outcome": outcome.kind,
                "ticket_id": outcome.ticket_id,
                "reason": outcome.reason,
            },
        )


def build_pipeline(
    settings: "Settings",
    *,
    sink: "Sink | None" = None,
    now: Clock | None = None,
    dry_run: bool | None = None,
    sleep: Callable[[float], None] | None = None,
    metadata: "AccountMetadata | None" = None,
) -> Pipeline:
    """The pipeline the service and `send` use, built from settings.

    `dry_run` defaults to `service.dry_run`.  A dry run gets the DryRunSink
    (from `build_sink` with dry_run forced on) and an in-memory ledger, so it
    writes nothing; a real run opens the ledger at `[ledger] url`.  Passing
    `sink` overrides the sink (tests, benchmarks).  The field catalogue and
    organization directory come from `metadata`, else from Zendesk, cached in
    the ledger database (a dry run uses `[zendesk] metadata_seed` instead).
    Raises LedgerError when the ledger cannot be opened, and whatever
    `build_sink` raises for unusable Zendesk settings (ValueError).
    """
    dry = settings.service.dry_run if dry_run is None else dry_run
    if dry != settings.service.dry_run:
        settings = settings.model_copy(update={"service": settings.service.model_copy(update={"dry_run": dry})})
    if sink is None:
        # The sink first: it has no side effects, so a bad Zendesk setting
        # fails before a ledger file is created.
        from ingest.sink import build_sink

        # `sleep` is what the Zendesk client waits with between retries (the
        # service passes StopFlag.sleep, so a SIGTERM ends a retry wait).
        sink = build_sink(settings, **({"sleep": sleep} if sleep is not None else {}))
    ledger = Ledger.in_memory() if dry else Ledger.from_url(settings.ledger.url)
    if metadata is None:
        from ingest.zendesk_meta import AccountMetadata

        # Read Zendesk through the sink's own client; a sink without one (a test
        # fake) gets no fetching, only the cache.
        client = getattr(sink, "client", None)
        metadata = AccountMetadata.from_settings(settings, engine=None if dry else ledger.engine, dry_run=dry,
                                                 client=client if isinstance(client, ZendeskClient) else None,
                                                 fetch=isinstance(client, ZendeskClient))
    return Pipeline(ledger, sink, settings, now=now, account=metadata.account)


def _where(msg: RawMessage, email: Email | None = None) -> str:
    """Names the message in a reason: its Message-ID and where it came from."""
    origin = msg.origin or msg.ref
    if email is not None and email.message_id:
        return f"{email.message_id} ({origin})"
    return origin or "message"


def _zendesk_error(exc: ZendeskError) -> str:
    status = f"HTTP {exc.status}: " if exc.status is not None else ""
    text = f"{status}{exc}"
    if exc.details:
        try:
            details = json.dumps(exc.details, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError):
            details = str(exc.details)
        text += f"; details: {details}"
    return text[:MAX_DETAILS_CHARS]


__all__ = ["IDEMPOTENCY_WINDOW", "Clock", "Pipeline", "Stages", "build_pipeline", "utcnow"]
