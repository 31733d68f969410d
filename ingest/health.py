"""`/healthz`, `/readyz` and `/metrics` for `bso-ingest run` (`[service] http_port`, off by default).

Served by the standard library's `http.server` (ThreadingHTTPServer in a
daemon thread): three GET routes need no web framework.  `/metrics` is
prometheus-client's exposition of ingest/metrics.py's registry.

- `/healthz` (liveness): the loop made progress (a poll, a message, a probe)
  within `live_seconds`.  Generous on purpose, longer than one message's
  whole Zendesk retry budget: restarting a slow but working service helps no one.
- `/readyz` (readiness): the mailbox is connected, or failing for less than
  `grace` (a reconnect within backoff); its login was not refused; the ledger
  is writable (its file is still the one we opened: same inode) and its last
  operation did not fail; Zendesk accepted our credentials since the start.

Both answer JSON: `{"status": "ok"|"fail", "checks": {name: {"ok": bool, "detail": str}}}`
with 200 or 503.  Nothing in it comes from mail.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ingest import metrics
from ingest.errors import LedgerError

if TYPE_CHECKING:
    from ingest.service import Service

log = logging.getLogger(__name__)

# A mailbox reconnecting for less than this is still "connecting within backoff".
READY_GRACE_SECONDS = 5.0

Check = tuple[bool, str]


class Health:
    """Liveness and readiness of one Service, computed on each request."""

    def __init__(
        self,
        service: "Service",
        *,
        live_seconds: float,
        grace: float = READY_GRACE_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.service = service
        self.live_seconds = live_seconds
        self.grace = grace
        self.clock = clock or service.clock
        self._reported_ledger = ""

    def live(self) -> tuple[bool, dict[str, Check]]:
        idle = self.clock() - self.service.last_progress
        ok = idle <= self.live_seconds
        return ok, {"loop": (ok, f"last progress {idle:.0f}s ago (limit {self.live_seconds:.0f}s)")}

    def ready(self) -> tuple[bool, dict[str, Check]]:
        checks = {"mailbox": self._mailbox(), "ledger": self._ledger(), "zendesk": self._zendesk()}
        ok = all(passed for passed, _ in checks.values())
        metrics.UP.set(1 if ok else 0)
        return ok, checks

    def _mailbox(self) -> Check:
        source = self.service.source
        refusal = self.service.auth.refusals.get("imap") if hasattr(self.service, "auth") else None
        if refusal is not None:
            return False, f"credentials refused ({refusal.code or 'refused'}, {refusal.attempts} attempts):" \
                f" {refusal.reason[:200]}; see `bso-ingest check`"
        if getattr(source, "auth_failed", False):
            return False, "the IMAP login was refused: fix the credentials (see `bso-ingest check`)"
        since = self.service.mailbox_failing_since
        if since is None:
            return True, "connected" if getattr(source, "connected", True) else "connecting"
        failing = self.clock() - since
        if failing < self.grace:
            return True, f"reconnecting for {failing:.0f}s"
        return False, f"unreachable for {failing:.0f}s"

    def _ledger(self) -> Check:
        ledger = self.service.ledger
        check_file = getattr(ledger, "check_file", None)
        if check_file is not None:
            try:
                check_file()
            except LedgerError as exc:
                if self._reported_ledger != str(exc):
                    self._reported_ledger = str(exc)
                    log.error("%s", exc)
                return False, str(exc)
        if self.service.ledger_error:
            return False, self.service.ledger_error
        return True, "writable"

    def _zendesk(self) -> Check:
        breaker = self.service.breaker
        refusal = self.service.auth.refusals.get("zendesk") if hasattr(self.service, "auth") else None
        if refusal is not None:
            return False, f"credentials refused ({refusal.code or 'refused'}): {refusal.reason[:200]}"
        if not self.service.zendesk_accepted:
            why = f"; Zendesk unavailable: {breaker.reason}" if breaker.is_open else ""
            return False, f"credentials not yet accepted{why}"
        if breaker.is_open:
            # Not a reason to restart or reroute: the breaker waits for Zendesk, the alert tells ops.
            return True, f"credentials accepted; circuit breaker open: {breaker.reason}"
        return True, "credentials accepted"


class HealthServer:
    """The HTTP endpoint in a daemon thread; `port` is the bound one (0 picks a free port)."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"health": health})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> "HealthServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.2,), name="health-http",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    health: Health
    server_version = "bso-ingest"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # probes every few seconds would drown the log

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, content_type = metrics.render()
            self._send(200, body, content_type)
        elif path in ("/healthz", "/readyz"):
            ok, checks = self.health.live() if path == "/healthz" else self.health.ready()
            payload = {"status": "ok" if ok else "fail",
                       "checks": {name: {"ok": passed, "detail": detail} for name, (passed, detail) in checks.items()}}
            self._send(200 if ok else 503, json.dumps(payload).encode(), "application/json")
        else:
            self._send(404, b'{"error": "not found: try /healthz, /readyz or /metrics"}', "application/json")

    do_HEAD = do_GET

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def live_seconds_for(poll_interval: float, retry_budget: float, timeout: float) -> float:
    """How long the loop may go without progress before /healthz fails.

    One message may legitimately take its whole retry budget plus a few
    request timeouts; a poll happens at least every poll interval.
    """
    return max(300.0, 3 * poll_interval, retry_budget + 4 * timeout + 60)

