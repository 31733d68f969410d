"""`python -m ingest.emulator --port N` serves the emulator until SIGTERM."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_as_a_module_and_stops_on_sigterm():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ingest.emulator", "--port", str(port), "--throttle-rate", "1"],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v2/tickets.json"
        deadline = time.monotonic() + 10
        while True:
            try:
                r = requests.get(url, auth=(f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN), timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.05)
        # --throttle-rate 1: every request is rate limited, so the flags reached it.
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    assert f"127.0.0.1:{port}" in proc.stderr.read()


def test_portal_flag_seeds_the_fields_forms_and_organizations():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ingest.emulator", "--port", str(port), "--portal", "demo"],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v2/ticket_forms.json"
        deadline = time.monotonic() + 10
        while True:
            try:
                r = requests.get(url, auth=(f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN), timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.05)
        assert [f["name"] for f in r.json()["ticket_forms"]] == ["Suporte Técnico", "Comercial"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
