"""ingest.drain: concurrency, the ordering rules and the memory budget, with a fake `process`.

No timing assertions: overlap is proven with barriers and events (generous
deadlines), order with the recorded sequence of starts and ends.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ingest.drain import Drain, order_of
from ingest.outcomes import Created, Deferred, Outcome
from ingest.source import RawMessage

DEADLINE = 30.0


def mail(n: int, sender: str | None = None, *, answers: str | None = None, body: bytes = b"hello\r\n") -> RawMessage:
    headers = [
        f"From: Someone <{sender or f'c{n}@example.com'}>",
        f"Message-ID: <m{n}@example.com>",
        "Subject: test",
    ]
    if answers:
        headers += [f"In-Reply-To: {answers}", f"References: <other@example.com> {answers}"]
    raw = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    return RawMessage(ref=str(n), raw=raw, origin=f"mail {n}")


class Recorder:
    """A fake pipeline: records starts/ends; a message may wait on an event first."""

    def __init__(self, outcome: Callable[[RawMessage], Outcome] | None = None) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.gates: dict[str, threading.Event] = {}
        self.barrier: threading.Barrier | None = None
        self.outcome = outcome or (lambda msg: Created(int(msg.ref)))
        self.filed: list[tuple[str, str, str]] = []
        self.left: list[tuple[str, str]] = []

    def process(self, msg: RawMessage) -> Outcome:
        with self.lock:
            self.events.append(("start", msg.ref))
        if msg.ref in self.gates:
            assert self.gates[msg.ref].wait(DEADLINE)
        if self.barrier is not None:
            self.barrier.wait(DEADLINE)
        with self.lock:
            self.events.append(("end", msg.ref))
        return self.outcome(msg)

    def finish(self, msg: RawMessage, result: object) -> None:
        assert msg.raw == b"", "the raw bytes are dropped before filing"
        self.filed.append((msg.ref, getattr(result, "kind", repr(result)), threading.current_thread().name))

    def leave(self, msg: RawMessage, why: str) -> None:
        self.left.append((msg.ref, why))

    def started(self, ref: str) -> bool:
        with self.lock:
            return ("start", ref) in self.events


def drain_for(rec: Recorder, concurrency: int = 4, memory_budget: int = 1 << 30) -> Drain:
    return Drain(rec.process, rec.finish, concurrency=concurrency, memory_budget=memory_budget,
                 settled=lambda r: getattr(r, "kind", "") not in ("", "deferred"), leave=rec.leave)


def test_order_of_reads_ids_and_sender_from_the_headers_only() -> None:
    order = order_of(mail(2, "Ana@Example.COM", answers="<m1@example.com>").raw + b"From: x@y.z\r\n")
    assert order.message_id == "<m2@example.com>"
    assert set(order.answers) == {"<other@example.com>", "<m1@example.com>"}
    assert order.sender == "ana@example.com"
    assert order_of(b"\x00\xff not a mail").sender == ""


def test_up_to_concurrency_messages_run_at_once_and_filing_stays_on_the_callers_thread() -> None:
    rec = Recorder()
    rec.barrier = threading.Barrier(4)  # passes only when 4 run at the same time
    drain = drain_for(rec, concurrency=4)
    try:
        for n in range(1, 9):
            drain.submit(mail(n))
        drain.finish()
    finally:
        drain.close()
    assert drain.peak_running == 4
    assert sorted(ref for ref, _kind, _thread in rec.filed) == sorted(str(n) for n in range(1, 9))
    assert {thread for _ref, _kind, thread in rec.filed} == {threading.current_thread().name}
    assert drain.held_bytes == 0


def test_one_senders_messages_run_one_after_another_in_mailbox_order() -> None:
    rec = Recorder()
    drain = drain_for(rec, concurrency=4)
    try:
        for n in range(1, 7):
            drain.submit(mail(n, "same@example.com" if n % 2 else None))
        drain.finish()
    finally:
        drain.close()
    same = [(kind, ref) for kind, ref in rec.events if int(ref) % 2]
    assert same == [("start", "1"), ("end", "1"), ("start", "3"), ("end", "3"), ("start", "5"), ("end", "5")]


def test_a_reply_waits_for_its_original_even_from_another_sender() -> None:
    rec = Recorder()
    rec.gates["1"] = threading.Event()
    drain = drain_for(rec, concurrency=4)
    try:
        drain.submit(mail(1, "cliente@example.com"))
        drain.submit(mail(2, "colega@example.com", answers="<m1@example.com>"))
        drain.submit(mail(3))  # unrelated: runs meanwhile
        waited = threading.Event()

        def check() -> None:
            deadline = threading.Event()
            while not rec.started("3"):
                deadline.wait(0.01)
            waited.set()

        watcher = threading.Thread(target=check)
        watcher.start()
        assert waited.wait(DEADLINE)
        assert not rec.started("2"), "the reply started while its original was in flight"
        rec.gates["1"].set()
        drain.finish()
        watcher.join(DEADLINE)
    finally:
        drain.close()
    assert rec.events.index(("start", "2")) > rec.events.index(("end", "1"))


def test_a_reply_to_an_original_that_did_not_finish_stays_in_the_inbox() -> None:
    rec = Recorder(outcome=lambda msg: Deferred("zendesk down") if msg.ref == "1" else Created(int(msg.ref)))
    drain = drain_for(rec, concurrency=4)
    try:
        drain.submit(mail(1, "cliente@example.com"))
        drain.submit(mail(2, "colega@example.com", answers="<m1@example.com>"))
        drain.submit(mail(3, "outro@example.com", answers="<m2@example.com>"))  # a reply to the reply
        drain.finish()
    finally:
        drain.close()
    assert not rec.started("2") and not rec.started("3")
    assert [ref for ref, _why in rec.left] == ["2", "3"]
    assert rec.filed[0][:2] == ("1", "deferred")


def test_room_waits_until_the_batch_fits_beside_what_is_held() -> None:
    rec = Recorder()
    rec.gates["1"] = threading.Event()
    drain = drain_for(rec, concurrency=4, memory_budget=2000)
    try:
        drain.submit(mail(1, body=b"x" * 1500))
        threading.Timer(0.2, rec.gates["1"].set).start()
        drain.room(1000)  # 1500 held + 1000 > 2000: returns only once message 1 is done
        assert ("end", "1") in rec.events and drain.held_bytes == 0
        drain.submit(mail(2, body=b"x" * 5000))
        drain.room(10)  # nothing else held is running? message 2 is: it must end first
        assert drain.held_bytes == 0
        drain.room(10_000)  # nothing held: a message larger than the budget goes alone
        drain.finish()
    finally:
        drain.close()


def test_stop_lets_running_messages_end_and_leaves_waiting_ones() -> None:
    rec = Recorder()
    rec.gates["1"] = threading.Event()
    drain = drain_for(rec, concurrency=4)
    try:
        drain.submit(mail(1, "same@example.com"))
        drain.submit(mail(2, "same@example.com"))
        rec.gates["1"].set()
        drain.finish(stop=True)
    finally:
        drain.close()
    assert [ref for ref, _k, _t in rec.filed] == ["1"]
    assert [ref for ref, _why in rec.left] == ["2"]


def test_a_worker_exception_is_handed_to_the_loop_thread() -> None:
    def boom(msg: RawMessage) -> Outcome:
        raise RuntimeError("bug")

    rec = Recorder(outcome=boom)
    drain = drain_for(rec, concurrency=2)
    try:
        drain.submit(mail(1))
        drain.finish()
    finally:
        drain.close()
    assert rec.filed[0][0] == "1" and "RuntimeError" in rec.filed[0][1]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_every_message_is_filed_exactly_once(concurrency: int) -> None:
    rec = Recorder()
    drain = drain_for(rec, concurrency=concurrency)
    try:
        for n in range(1, 41):
            drain.submit(mail(n, f"s{n % 5}@example.com", answers=f"<m{n - 7}@example.com>" if n > 7 else None))
        drain.finish()
    finally:
        drain.close()
    assert sorted(int(ref) for ref, _k, _t in rec.filed) == list(range(1, 41))
