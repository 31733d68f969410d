"""Courier-IMAP for the tests, from a private root: Debian's courier-imap unpacked, not installed.

courier-imap conflicts with dovecot-imapd as a package, so scripts/test
unpacks it (and the few libraries it needs) with `dpkg-deb -x` into
`.cache/courier` (or `$BSO_COURIER_ROOT`); the tests skip when it is not
there.  What runs is Courier's own `imapd`, the IMAP server proper, with
Debian's default settings from /etc/courier/imapd: personal namespace
`INBOX.` with separator `.`, no MOVE, IDLE without enhanced IDLE
(IMAP_ENHANCEDIDLE=0: it announces nothing while idling).

Courier starts `imapd` after couriertcpd + imaplogin + authlib have checked
the password; here a small loopback front end stands in for those three:
it answers CAPABILITY and LOGIN itself, then starts `imapd Maildir` in its
pre-authenticated mode and relays every byte both ways.  From the login on,
the client talks to Courier.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.dovecot import PlainLogin

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bso", "bso-test-password"
# Debian's /etc/courier/imapd, as shipped.
DEBIAN_CAPABILITY = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"


def courier_root() -> Path | None:
    root = Path(os.environ.get("BSO_COURIER_ROOT") or REPO / ".cache" / "courier")
    return root if (root / "usr" / "bin" / "imapd").exists() else None


def _library_path(root: Path) -> str:
    dirs = sorted({str(p.parent) for p in root.rglob("*.so*")})
    return ":".join(dirs)


class _Handler(socketserver.StreamRequestHandler):
    server: "_FrontEnd"

    def handle(self) -> None:
        self.wfile.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] bso-ingest test front end to Courier-IMAP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode("utf-8", "replace").strip().partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self.wfile.write(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK CAPABILITY completed\r\n".encode())
            elif command == "NOOP":
                self.wfile.write(f"{tag} OK NOOP completed\r\n".encode())
            elif command == "LOGOUT":
                self.wfile.write(f"* BYE bye\r\n{tag} OK LOGOUT completed\r\n".encode())
                return
            elif command == "LOGIN":
                words = [w.strip('"') for w in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', args)]
                if words[:2] != [USER, PASSWORD]:
                    self.wfile.write(f"{tag} NO [AUTHENTICATIONFAILED] Login failed.\r\n".encode())
                    continue
                self._relay(tag)
                return
            else:
                self.wfile.write(f"{tag} BAD not before LOGIN\r\n".encode())

    def _relay(self, tag: str) -> None:
        server = self.server
        proc = subprocess.Popen(
            [str(server.root / "usr" / "bin" / "imapd"), "Maildir"], cwd=server.home,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=server.log, env=server.environment(),
        )
        server.procs.append(proc)
        assert proc.stdout is not None and proc.stdin is not None
        while True:  # Courier's greeting in pre-authenticated mode
            greeting = proc.stdout.readline()
            if not greeting or greeting.startswith(b"* PREAUTH"):
                break
        self.wfile.write(f"{tag} OK LOGIN completed\r\n".encode())
        stdin = proc.stdin

        def client_to_courier() -> None:
            try:
                while chunk := self.connection.recv(65536):
                    stdin.write(chunk)
                    stdin.flush()
            except OSError:
                pass
            finally:
                with _quiet():
                    stdin.close()

        threading.Thread(target=client_to_courier, daemon=True).start()
        try:
            while chunk := proc.stdout.read1(65536):
                self.connection.sendall(chunk)
        except OSError:
            pass
        finally:
            proc.kill()
            proc.wait()


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


class _FrontEnd(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, home: Path, capability: str, log: object) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.home, self.capability, self.log = root, home, capability, log
        self.procs: list[subprocess.Popen[bytes]] = []

    def environment(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "LD_LIBRARY_PATH": _library_path(self.root),
            "IMAP_CAPABILITY": self.capability,
            "IMAP_ENHANCEDIDLE": "0",
            "IMAP_IDLE_TIMEOUT": "60",
            "IMAP_KEYWORDS": "1",
            # Debian says 1; without a FAM daemon each lock then waits about a
            # second (the dot-lock watch fails and times out).  One client here.
            "IMAP_USELOCKS": "0",
            "IMAP_MOVE_EXPUNGE_TO_TRASH": "0",
            "TCPREMOTEIP": "127.0.0.1",
            "AUTHENTICATED": USER,
        }


class CourierServer(PlainLogin):
    """Courier-IMAP behind the front end; the same helpers as tests/dovecot.py's DovecotServer."""

    host = "127.0.0.1"
    user = USER
    password = PASSWORD

    def __init__(self, root: Path, home: Path, capability: str = DEBIAN_CAPABILITY) -> None:
        self.home = home
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
        self._log = open(home / "courier.log", "ab")  # noqa: SIM115 - closed in stop()
        self._server = _FrontEnd(root, home, capability, self._log)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for proc in self._server.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self._log.close()

    def client(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, messages: list[bytes], folder: str = "INBOX") -> None:
        with self.client() as client:
            for raw in messages:
                client.append(folder, raw)

    def folder_uids(self, folder: str) -> list[int]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search(["NOT", "DELETED"]))

    def all_uids(self, folder: str) -> list[int]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search(["ALL"]))

    def folder_messages(self, folder: str) -> list[bytes]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search(["NOT", "DELETED"])
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [data[uid][b"BODY[]"] for uid in sorted(data)]


def start_courier(home: Path, capability: str = DEBIAN_CAPABILITY) -> CourierServer:
    root = courier_root()
    if root is None:
        pytest.skip("Courier-IMAP not unpacked (scripts/test does it into .cache/courier; BSO_COURIER_ROOT)")
    server = CourierServer(root, home, capability)
    try:
        with socket.create_connection((server.host, server.port), timeout=5):
            pass
        server.client().logout()
    except Exception:
        server.stop()
        raise
    return server


@pytest.fixture
def courier() -> Iterator[CourierServer]:
    home = Path(tempfile.mkdtemp(prefix="bso-courier-"))
    server = start_courier(home)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
