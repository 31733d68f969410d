"""The run lock: one run per mailbox and ledger, never a stale lock after a crash."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.errors import LockedError
from ingest.lock import RunLock


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    path = tmp_path / "var" / "run.lock"
    with RunLock(path, "maildir:var/demo-inbox"):
        with pytest.raises(LockedError, match=r"holds .*run.lock \(pid \d+ maildir:var/demo-inbox\)"):
            RunLock(path).acquire()
    with RunLock(path):  # released on exit
        pass


def test_kill_9_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import time; from ingest.lock import RunLock; RunLock({str(path)!r}).acquire(); print('held', flush=True);"
         " time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            RunLock(path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.05)
    with RunLock(path):
        pass
