"""The stop flag that waits can see: a SIGTERM mid-retry must not wait out the retry.

Signal handlers only record the signal (ingest/service.py); the service's
watchdog thread then calls `StopFlag.set()`, because setting a
threading.Event from inside a signal handler could deadlock on its lock.
`StopFlag.sleep` is what the Zendesk client sleeps with between retries:
it returns early and raises `StopRequested` once the flag is set, so the
current message is left claimed in the inbox and finished by the next run.
"""
from __future__ import annotations

import threading

from ingest.errors import StopRequested


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> None:
        """Sleeps `seconds`, or raises StopRequested as soon as a stop is requested."""
        if self._event.wait(max(0.0, seconds)):
            raise StopRequested("stop requested during a retry wait")
