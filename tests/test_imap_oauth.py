"""OAuth2 against real parts on loopback: msal / google-auth -> the identity-provider stand-in
(tests/idp.py, 5-second tokens) and Dovecot's own oauth2 passdb asking that stand-in about
every bearer token.  The service drains mail across several token expiries, one of them during
IDLE, with 0 lost and 0 duplicates; a revoked client gives the auth-failure state, with at most
one login attempt per backoff step; and no token or secret reaches any log line.
"""
from __future__ import annotations

import base64
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import metrics
from ingest.cli import main
from ingest.emulator import Emulator, Faults
from ingest.pipeline import build_pipeline
from ingest.service import EXIT_OK, Service, default_scheduler
from ingest.settings import ImapSettings, Settings, load_settings
from ingest.sources.imap import ImapSource
from tests.dovecot import DovecotServer, service_env, start_dovecot, support_mail
from tests.idp import IdentityProvider, start_idp
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot

TENANT = "7c1f0d2e-4b6a-4a8e-9d1c-2f3e4a5b6c7d"
CLIENT = "0a1b2c3d-1111-2222-3333-444455556666"
PROCESSED = "BSO/Processed"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[IdentityProvider]:
    root = Path(tempfile.mkdtemp(prefix="bso-idp-"))
    idp, servers = start_idp(root, lifetime=5.0)
    try:
        yield idp
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def oauth_dovecot_server(stand_in: IdentityProvider) -> Iterator[DovecotServer]:
    root = Path(tempfile.mkdtemp(prefix="bso-dovecot-"))
    server = start_dovecot(root, oauth2=stand_in)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def oauth_dovecot(oauth_dovecot_server: DovecotServer, stand_in: IdentityProvider) -> DovecotServer:
    oauth_dovecot_server.start()
    oauth_dovecot_server.reset_mail()
    stand_in.reset()
    return oauth_dovecot_server


def microsoft_env(server: DovecotServer, idp: IdentityProvider, zendesk_url: str, root: Path,
                  secret: str) -> dict[str, str]:
    env = service_env(server, zendesk_url, root)
    del env["BSO_INGEST_IMAP__PASSWORD"]
    env.update({
        "BSO_INGEST_IMAP__AUTH": "microsoft",
        "BSO_INGEST_IMAP__TENANT_ID": TENANT,
        "BSO_INGEST_IMAP__CLIENT_ID": CLIENT,
        "BSO_INGEST_IMAP__CLIENT_SECRET": secret,
        "BSO_INGEST_IMAP__AUTHORITY": idp.url,
        "BSO_INGEST_IMAP__OAUTH_CA_BUNDLE": str(idp.ca_file),
    })
    return env


def start_service(settings: Settings) -> tuple[Service, threading.Thread, list[int]]:
    service = Service(ImapSource(settings.imap), build_pipeline(settings), poll_interval=3600,
                      scheduler=default_scheduler())
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    return service, thread, codes


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def assert_no_secrets(records: list[logging.LogRecord], secrets: list[str], user: str) -> None:
    """No token, secret or XOAUTH2 payload in any captured log line, at any level."""
    assert records, "nothing was logged: the check would prove nothing"
    forms = set()
    for secret in secrets:
        forms |= {secret, base64.b64encode(f"user={user}\1auth=Bearer {secret}\1\1".encode()).decode()}
        forms.add(secret[8:40])  # a fragment, should a line cut it
    for record in records:
        line = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        leaked = [form for form in forms if form and form in line]
        assert not leaked, f"{record.name} {record.levelname} line carries a secret: {line[:200]!r}"


def test_drain_across_token_expiries_and_one_during_idle(
    oauth_dovecot: DovecotServer, stand_in: IdentityProvider, zendesk_emulator: Emulator, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = stand_in.register_entra(TENANT, CLIENT, (oauth_dovecot.user,))
    zendesk_emulator.set_faults(Faults(latency=0.1))
    env = microsoft_env(oauth_dovecot, stand_in, zendesk_emulator.url, tmp_path, creds["secret"])
    service, thread, codes = start_service(load_settings(env["BSO_INGEST_CONFIG"], environ=env))
    try:
        oauth_dovecot.append([support_mail(n) for n in range(1, 11)])
        wait_for(lambda: len(zendesk_emulator.tickets) == 10)
        # Idle for longer than a token lives: it is renewed during IDLE,
        # without a new login (Dovecot checks tokens only at login).
        logins = stand_in.count("introspect")
        idle_from = time.time()
        # Until the second renewal (not a fixed 7 s): both happen while idling.
        wait_for(lambda: stand_in.count("token", since=idle_from) >= 2, timeout=40)
        assert stand_in.count("introspect") == logins
        oauth_dovecot.append([support_mail(n) for n in range(11, 21)])
        wait_for(lambda: len(zendesk_emulator.tickets) == 20)

        # The server drops the session; every token seen so far has expired
        # by the time we are back: the new login uses a fresh one.
        time.sleep(3.0)
        oauth_dovecot.restart()
        oauth_dovecot.append([support_mail(n) for n in range(21, 31)])
        wait_for(lambda: len(zendesk_emulator.tickets) == 30)
        wait_for(lambda: len(oauth_dovecot.folder_uids(PROCESSED)) == 30)
    finally:
        service.request_stop()
        thread.join(15)
    assert codes == [EXIT_OK]
    # 0 lost, 0 duplicates.
    assert sorted(t.subject for t in zendesk_emulator.tickets.values()) == sorted(
        f"Pedido de suporte {n}" for n in range(1, 31))
    assert oauth_dovecot.folder_uids("INBOX") == []
    assert stand_in.count("token") >= 5  # several expiries
    assert stand_in.count("introspect") >= 2 and stand_in.count("introspect_refused") == 0
    assert stand_in.count("tokeninfo_refused") == 0
    assert not service.auth.failing()
    assert_no_secrets(caplog.records, [creds["secret"], *stand_in.issued_tokens()], oauth_dovecot.user)


def test_a_revoked_client_is_an_auth_failure_with_one_attempt_per_backoff_step(
    oauth_dovecot: DovecotServer, stand_in: IdentityProvider, zendesk_emulator: Emulator, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = stand_in.register_entra(TENANT, CLIENT, (oauth_dovecot.user,))
    env = microsoft_env(oauth_dovecot, stand_in, zendesk_emulator.url, tmp_path, creds["secret"])
    service, thread, codes = start_service(load_settings(env["BSO_INGEST_CONFIG"], environ=env))
    try:
        oauth_dovecot.append([support_mail(1)])
        wait_for(lambda: len(zendesk_emulator.tickets) == 1)

        refused_before = metrics.value("bso_ingest_auth_failures_total", {"service": "imap"})
        stand_in.revoke(CLIENT)
        revoked = time.time()
        oauth_dovecot.restart()  # the next login needs the (revoked) credentials
        started = time.monotonic()
        wait_for(lambda: service.auth.failing(), timeout=20)
        # Within one backoff step: the reconnect after the drop waits 1 s,
        # then one login attempt (slack for a loaded machine).
        assert time.monotonic() - started < 1.0 + 7.0
        # Until three refusals (the 2 s and 4 s steps), not a fixed 16 s: the
        # gaps between them are what shows the backoff.
        wait_for(lambda: len([t for t in stand_in.times("token_refused") if t >= revoked]) >= 3, timeout=60)
        refused = [t for t in stand_in.times("token_refused") if t >= revoked]
        authenticates = stand_in.count("tokeninfo_refused", since=revoked) + stand_in.count("tokeninfo", since=revoked)
        # Backoff 2, 4, 8 s (then 16): at most one attempt per step, so 3 in
        # ~7 s rather than one per second; and only the first reached
        # Dovecot (the cached token); after it the IdP refused us first.
        assert 2 <= len(refused) <= 5, refused
        # A loaded machine only stretches the steps, never shortens them.
        gaps = [b - a for a, b in zip(refused, refused[1:], strict=False)]
        assert all(gap >= 0.8 * 2 ** (step + 1) for step, gap in enumerate(gaps)), gaps
        assert authenticates <= 1
        failing = service.auth.failing()
        assert [f.service for f in failing] == ["imap"] and failing[0].code == "AADSTS7000215"
        assert metrics.value("bso_ingest_auth_failures_total", {"service": "imap"}) - refused_before == len(refused)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "credentials refused" in r.getMessage()]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert TENANT in errors[0].getMessage() and CLIENT in errors[0].getMessage()
        assert "AADSTS7000215" in errors[0].getMessage()

        # Consent restored: the next step logs in and drains, no restart.
        stand_in.restore(CLIENT)
        oauth_dovecot.append([support_mail(2)])
        wait_for(lambda: len(zendesk_emulator.tickets) == 2, timeout=40)
        wait_for(lambda: not service.auth.failing(), timeout=10)  # cleared when that pass ends
    finally:
        service.request_stop()
        thread.join(15)
    assert codes == [EXIT_OK]
    assert any("credentials accepted again" in r.getMessage() for r in caplog.records)
    assert_no_secrets(caplog.records, [creds["secret"], *stand_in.issued_tokens()], oauth_dovecot.user)


def test_a_token_the_server_refuses_is_invalidated_and_one_fresh_token_logs_in(
    oauth_dovecot: DovecotServer, stand_in: IdentityProvider,
) -> None:
    creds = stand_in.register_entra(TENANT, CLIENT, (oauth_dovecot.user,))
    settings = ImapSettings(**oauth_dovecot.settings(
        password=None, auth="microsoft", tenant_id=TENANT, client_id=CLIENT, client_secret=creds["secret"],
        authority=stand_in.url, oauth_ca_bundle=stand_in.ca_file, token_refresh_margin_seconds=0))
    oauth_dovecot.append([support_mail(1)])
    source = ImapSource(settings)
    try:
        assert len(list(source.fetch())) == 1
        cached = source.provider.token()
        source.close()
        stand_in.revoke_token(cached)  # still "valid" by its expiry, but the server now refuses it
        refused = metrics.value("bso_ingest_auth_failures_total", {"service": "imap"})
        assert len(list(source.fetch())) == 1
        assert source.provider.token() != cached
        assert stand_in.count("tokeninfo_refused") == 1 and stand_in.count("token") == 2
        assert metrics.value("bso_ingest_auth_failures_total", {"service": "imap"}) == refused  # recovered at once
    finally:
        source.close()


def test_google_service_account_run_once_through_dovecot(
    oauth_dovecot: DovecotServer, stand_in: IdentityProvider, zendesk_emulator: Emulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = stand_in.register_service_account("bso-ingest@proj.iam.gserviceaccount.com", (oauth_dovecot.user,))
    key_file = tmp_path / "sa.json"
    key_file.write_text(key)
    env = service_env(oauth_dovecot, zendesk_emulator.url, tmp_path)
    del env["BSO_INGEST_IMAP__PASSWORD"]
    env.update({"BSO_INGEST_IMAP__AUTH": "google", "BSO_INGEST_IMAP__GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
                "BSO_INGEST_IMAP__OAUTH_CA_BUNDLE": str(stand_in.ca_file)})
    oauth_dovecot.append([support_mail(n) for n in range(1, 4)])
    for name in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("BSO_INGEST_"):
            monkeypatch.setenv(name, value)
    assert main(["run", "--once"]) == EXIT_OK
    assert len(zendesk_emulator.tickets) == 3 and oauth_dovecot.folder_uids("INBOX") == []
    assert stand_in.count("introspect", "bso-ingest@proj.iam.gserviceaccount.com") == 1
    import json

    private_key = json.loads(key)["private_key"].splitlines()[1]
    assert_no_secrets(caplog.records, [private_key, *stand_in.issued_tokens()], oauth_dovecot.user)


def test_check_shows_the_provider_the_token_expiry_and_the_mailbox_it_opened(
    oauth_dovecot: DovecotServer, stand_in: IdentityProvider, zendesk_emulator: Emulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    creds = stand_in.register_entra(TENANT, CLIENT, (oauth_dovecot.user,))
    oauth_dovecot.append([support_mail(1)])
    env = microsoft_env(oauth_dovecot, stand_in, zendesk_emulator.url, tmp_path, creds["secret"])
    for name in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("BSO_INGEST_"):
            monkeypatch.setenv(name, value)
    main(["check"])  # its Zendesk lines are test_check.py's business
    out = capsys.readouterr().out
    assert "FAIL imap" not in out and "ok   imap.login" in out
    auth = next(line for line in out.splitlines() if "imap.auth" in line)
    assert f"microsoft tenant={TENANT} client={CLIENT}" in auth and "token valid until" in auth
    assert "XOAUTH2 via microsoft" in out
    assert "inbox 'INBOX' opened read-only as 'INBOX': 1 messages" in out
    assert creds["secret"] not in out and not any(t in out for t in stand_in.issued_tokens())

    stand_in.revoke(CLIENT)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL imap.login" in out and "AADSTS7000215" in out and "IMAP.AccessAsApp" in out
