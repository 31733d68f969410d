"""IMAPS and STARTTLS against a real Dovecot with a self-signed certificate.

The certificate is verified: unknown, it is refused; trusted (SSL_CERT_FILE,
as an operator would point at a private CA), the source works.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import FetchError
from ingest.settings import ImapSettings
from ingest.sources.imap import ImapSource
from tests.dovecot import DovecotServer, start_dovecot, support_mail

pytestmark = pytest.mark.dovecot


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[DovecotServer]:
    root = Path(tempfile.mkdtemp(prefix="bso-dovecot-tls-"))
    server = start_dovecot(root, tls=True)
    server.append([support_mail(1)])
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def fetch_all(server: DovecotServer, **imap: object) -> list[bytes]:
    source = ImapSource(ImapSettings(**server.settings(**imap)))
    try:
        return [msg.raw for msg in source.fetch()]
    finally:
        source.close()


def test_imaps_refuses_an_unknown_certificate(tls_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        fetch_all(tls_dovecot, ssl=True, port=tls_dovecot.imaps_port)


def test_imaps_with_a_trusted_certificate(tls_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_dovecot.cert_path))
    assert fetch_all(tls_dovecot, ssl=True, port=tls_dovecot.imaps_port) == [support_mail(1)]


def test_starttls_with_a_trusted_certificate(tls_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_dovecot.cert_path))
    assert fetch_all(tls_dovecot, ssl="starttls", host="localhost") == [support_mail(1)]


def test_starttls_refuses_an_unknown_certificate(tls_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        fetch_all(tls_dovecot, ssl="starttls")
