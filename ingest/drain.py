"""Up to `service.concurrency` messages in flight, in order where order matters.

The service's loop thread reads the mailbox and hands each message to a
`Drain`; worker threads run `Pipeline.process(msg)` (claim → Zendesk →
record), so Zendesk's answers overlap instead of queueing behind each other.
Everything that touches the mailbox stays on the loop thread: the drain hands
each result back there (`finish`), which is where the message is filed.
imapclient is not thread-safe, and one connection, used in turn, is all the
IMAP side needs (a FETCH per batch, a MOVE per message).

Ordering rules, from the message's headers alone (no full parse here):

- a reply (In-Reply-To/References naming a message of this drain) starts only
  after that message finished, so it becomes a comment on the ticket the
  original made, not a second ticket.  When the original did not reach a
  final outcome (Deferred, an error), the reply is left in the inbox too, for
  the next poll to take both in order;
- one sender's messages run one after another, in mailbox order, so the
  per-sender loop guard counts them as a serial drain would;
- the ledger claim stays the one guard against doing a key twice: the drain
  only decides when `process` runs, never whether.

Memory: a message's raw bytes count against `memory_budget` from the moment
it is handed over until its worker is done.  The source asks for `room(n)`
before each FETCH, which waits (filing finished messages meanwhile) until the
batch fits, or until nothing else is held: a message larger than the budget
is handled alone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import email.parser
import email.policy
import email.utils
import logging
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ingest import memory, metrics
from ingest.errors import IngestError
from ingest.ledger import normalize_message_id
from ingest.source import RawMessage

log = logging.getLogger(__name__)

# Headers end at the first blank line; past this many bytes we stop looking
# (a message whose headers are larger than this is ordered by nothing).
MAX_HEADER_BYTES = 256 * 1024

Result = object  # an Outcome, or the exception `process` raised
Finish = Callable[[RawMessage, Result], None]
Leave = Callable[[RawMessage, str], None]


@dataclass(frozen=True)
class Order:
    """What ordering needs from a message: its id, the ids it answers, its sender."""

    message_id: str | None
    answers: tuple[str, ...]
    sender: str


def order_of(raw: bytes) -> Order:
    """Reads the header block only; never raises (unreadable headers order by nothing)."""
    end = -1
    for sep in (b"\r\n\r\n", b"\n\n"):
        found = raw.find(sep, 0, MAX_HEADER_BYTES)
        if found != -1 and (end == -1 or found < end):
            end = found
    head = raw[: end if end != -1 else min(len(raw), MAX_HEADER_BYTES)]
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
        message_id = normalize_message_id(str(headers.get("Message-ID", "") or ""))
        ids = " ".join(str(v) for name in ("In-Reply-To", "References") for v in headers.get_all(name, []))
        answers = tuple(dict.fromkeys(i for i in (normalize_message_id(t) for t in _id_tokens(ids)) if i))
        sender = ""
        for name in ("From", "Sender", "Return-Path"):
            found_addrs = [a for _n, a in email.utils.getaddresses([str(v) for v in headers.get_all(name, [])]) if a]
            if found_addrs:
                sender = found_addrs[0].strip().lower()
                break
    except Exception:  # ordering is best effort; the pipeline reports unreadable mail
        log.debug("cannot read headers for ordering", exc_info=True)
        return Order(None, (), "")
    return Order(message_id, tuple(a for a in answers if a != message_id), sender)


def _id_tokens(value: str) -> list[str]:
    tokens = []
    for token in value.replace(",", " ").split():
        if token.startswith("<") and ">" in token:
            tokens.append(token[: token.index(">") + 1])
        elif "@" in token and "<" not in token:
            tokens.append(token)
    return tokens


@dataclass(eq=False)
class _Task:
    msg: RawMessage
    order: Order
    size: int
    # Earlier unfinished tasks this one waits for, and whether it waits as a reply.
    after: set["_Task"] = field(default_factory=set)
    answers: set["_Task"] = field(default_factory=set)
    started: bool = False
    done: bool = False
    settled: bool = False  # reached a final outcome (filed); a reply's condition


class Drain:
    """Runs `process` for up to `concurrency` messages at once; `finish` on the caller's thread.

    One Drain serves one poll after another; `close()` ends its workers.
    `settled(result)` says whether a result is final (a reply to it may go).
    """

    def __init__(
        self,
        process: Callable[[RawMessage], Result],
        finish: Finish,
        *,
        concurrency: int,
        memory_budget: int,
        settled: Callable[[Result], bool],
        leave: Leave,
    ) -> None:
        self.process = process
        self.finish_one = finish
        self.concurrency = concurrency
        self.memory_budget = memory_budget
        self.settled = settled
        self.leave = leave
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="drain")
        self._results: queue.SimpleQueue[tuple[_Task, Result]] = queue.SimpleQueue()
        self._unfinished: list[_Task] = []  # handed over, not yet finished: arrival order
        self._by_sender: dict[str, _Task] = {}
        self._by_id: dict[str, _Task] = {}
        self._running = 0
        self.held_bytes = 0
        # For the bench and tests: the most bytes held and messages running at once.
        self.peak_held_bytes = 0
        self.peak_running = 0

    # -- what the loop thread calls ------------------------------------------

    def submit(self, msg: RawMessage) -> None:
        """Hands a message over; returns once it runs or waits for an earlier one."""
        order = order_of(msg.raw)
        task = _Task(msg, order, len(msg.raw))
        if order.sender and order.sender in self._by_sender:
            task.after.add(self._by_sender[order.sender])
        for mid in order.answers:
            original = self._by_id.get(mid)
            if original is not None:
                task.after.add(original)
                task.answers.add(original)
        self._unfinished.append(task)
        if order.sender:
            self._by_sender[order.sender] = task
        if order.message_id and order.message_id not in self._by_id:
            self._by_id[order.message_id] = task
        self.held_bytes += task.size
        self.peak_held_bytes = max(self.peak_held_bytes, self.held_bytes)
        if task.after:
            log.debug("%s waits for %d earlier message(s)", msg.origin or msg.ref, len(task.after))
            return
        while self._running >= self.concurrency:
            self._collect()
        if not task.started and not task.done:
            self._start(task)

    def room(self, nbytes: int) -> None:
        """Waits until `nbytes` more fit in the memory budget, or nothing else is held."""
        while self.held_bytes and self.held_bytes + nbytes > self.memory_budget and self._running:
            self._collect()

    def finish(self, *, stop: bool = False) -> None:
        """Waits for every message handed over; with `stop`, waiting ones are not started."""
        if stop:
            self._drop_waiting("the service is stopping")
        while self._running or (self._unfinished and not stop):
            if not self._running:  # pragma: no cover - a waiting task always has a running root
                self._drop_waiting("nothing left to wait for")
                break
            self._collect()
        if stop:
            self._drop_waiting("the service is stopping")

    def settle(self) -> None:
        """After an error: lets running messages end and be filed; waiting ones stay in the inbox."""
        self._drop_waiting("an error stopped this poll")
        while self._running:
            try:
                self._collect()
            except IngestError as exc:  # the same outage or ledger failure: it stays in the inbox
                log.warning("a finished message is left for the next poll: %s", exc)
            except Exception:
                log.exception("filing a finished message failed; it is filed at the next poll")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- internals ------------------------------------------------------------

    def _start(self, task: _Task) -> None:
        task.started = True
        self._running += 1
        self.peak_running = max(self.peak_running, self._running)
        metrics.MESSAGES_IN_FLIGHT.set(self._running)
        self._pool.submit(self._work, task)

    def _work(self, task: _Task) -> None:
        try:
            result: Result = self.process(task.msg)
        except BaseException as exc:  # handed to the loop thread, which decides
            result = exc
        # The raw bytes are done with: only ref and origin are needed to file it.
        task.msg = dataclasses.replace(task.msg, raw=b"")
        memory.trim(task.size)
        self._results.put((task, result))

    def _collect(self) -> None:
        """Takes one finished message, files it (finish), and starts what it unblocks."""
        task, result = self._results.get()
        self._running -= 1
        metrics.MESSAGES_IN_FLIGHT.set(self._running)
        task.settled = self.settled(result)
        self._forget(task)
        # When filing raises (an outage, a broken ledger) nothing new starts:
        # the caller settles what runs and leaves the rest.
        self.finish_one(task.msg, result)
        self._start_ready()

    def _forget(self, task: _Task) -> None:
        task.done = True
        self.held_bytes -= task.size
        with contextlib.suppress(ValueError):
            self._unfinished.remove(task)
        if self._by_sender.get(task.order.sender) is task:
            del self._by_sender[task.order.sender]
        if task.order.message_id and self._by_id.get(task.order.message_id) is task:
            del self._by_id[task.order.message_id]

    def _start_ready(self) -> None:
        for task in list(self._unfinished):
            if task.started or task.done:
                continue
            unfinished_originals = [o for o in task.answers if not o.done]
            if any(not a.done for a in task.after):
                continue
            failed = [o for o in task.answers if o.done and not o.settled]
            if failed and not unfinished_originals:
                self._forget(task)
                self._leave(task, f"waits for {failed[0].msg.origin or failed[0].msg.ref}, which was not finished")
                continue
            if self._running >= self.concurrency:
                break
            self._start(task)

    def _drop_waiting(self, why: str) -> None:
        for task in [t for t in self._unfinished if not t.started]:
            self._forget(task)
            self._leave(task, why)

    def _leave(self, task: _Task, why: str) -> None:
        task.msg = dataclasses.replace(task.msg, raw=b"")
        self.leave(task.msg, why)


__all__ = ["Drain", "Order", "order_of"]
