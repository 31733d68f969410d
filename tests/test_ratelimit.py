"""ingest.ratelimit: pacing, header feedback, the shared 429 pause, the per-ticket limit.

The feedback and pause logic runs on a fake clock; pacing (pyrate-limiter's
GCRA, which sleeps on the real clock) is checked with lower bounds only.
"""
from __future__ import annotations

import threading
import time

from ingest.ratelimit import AccountLimiter, TicketLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacing_spreads_requests_at_the_configured_rate() -> None:
    limiter = AccountLimiter(600, share=1.0)  # 10/s: 100 ms apart
    started = time.monotonic()
    for _ in range(6):
        limiter.acquire()
    assert time.monotonic() - started >= 0.45
    assert limiter.requests == 6


def test_the_limit_is_learned_from_the_first_answer_when_not_configured() -> None:
    limiter = AccountLimiter(None, share=0.5)
    assert limiter.limit is None
    limiter.acquire()
    limiter.observe(200, {"X-Rate-Limit": "400", "X-Rate-Limit-Remaining": "399"})
    assert limiter.limit == 400
    limiter.observe(200, {"ratelimit-limit": "700", "ratelimit-remaining": "699", "ratelimit-reset": "30"})
    assert limiter.limit == 700


def test_a_configured_limit_is_not_overridden_by_headers() -> None:
    limiter = AccountLimiter(200)
    limiter.observe(200, {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "600"})
    assert limiter.limit == 200


def test_a_spent_window_makes_every_worker_wait_for_the_reset_before_any_429() -> None:
    t = FakeTime()
    limiter = AccountLimiter(None, reserve=2, clock=t.clock, sleep=t.sleep)
    limiter._pacer = None  # feedback only
    limiter.acquire()
    limiter.observe(200, {"ratelimit-remaining": "2", "ratelimit-reset": "7"})
    limiter.acquire()
    assert sum(t.slept) >= 7.0 - 1e-9  # waited for the window to turn
    assert limiter.paused_seconds >= 7.0 - 1e-9


def test_without_a_reset_header_a_spent_window_is_probed_once_a_second() -> None:
    t = FakeTime()
    limiter = AccountLimiter(None, reserve=0, clock=t.clock, sleep=t.sleep)
    limiter._pacer = None
    limiter.acquire()
    limiter.observe(200, {"X-Rate-Limit-Remaining": "0"})
    limiter.acquire()  # one probe a second later: the window may have turned
    assert 0.99 <= sum(t.slept) <= 1.0 + 1e-9
    limiter.observe(200, {"X-Rate-Limit-Remaining": "50"})
    before = sum(t.slept)
    limiter.acquire()
    assert sum(t.slept) == before  # budget again: no wait


def test_requests_in_flight_count_against_what_is_left() -> None:
    t = FakeTime()
    limiter = AccountLimiter(None, reserve=1, clock=t.clock, sleep=t.sleep)
    limiter._pacer = None
    for _ in range(3):
        limiter.acquire()  # three on their way
    limiter.observe(200, {"ratelimit-remaining": "3", "ratelimit-reset": "5"})  # two still in flight: 1 left
    limiter.acquire()
    assert sum(t.slept) >= 5.0 - 1e-9


def test_a_429_pauses_every_worker_for_its_retry_after() -> None:
    limiter = AccountLimiter(None)
    limiter.acquire()
    limiter.observe(429, {}, retry_after=0.6)
    done: list[float] = []
    started = time.monotonic()

    def worker() -> None:
        limiter.acquire()
        done.append(time.monotonic() - started)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(done) == 3 and min(done) >= 0.5


def test_ticket_limiter_allows_30_updates_per_10_minutes_per_ticket() -> None:
    t = FakeTime()
    limiter = TicketLimiter(clock=t.clock)
    assert all(limiter.reserve(7) == 0 for _ in range(30))
    wait = limiter.reserve(7)
    assert 599 < wait <= 600
    assert limiter.reserve(8) == 0  # another ticket is not affected
    t.now += wait
    assert limiter.reserve(7) == 0
