from __future__ import annotations

import pytest

from ingest.net import is_loopback
from ingest.settings import SettingsError, load_settings


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["127.attacker.example", "localhost.example.com", "10.0.0.1", "imap.totvs.com.br", ""])
def test_names_that_only_look_local_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_plain_http_zendesk_on_a_lookalike_name_is_refused() -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(environ={"BSO_INGEST_CONFIG": "/dev/null", "BSO_INGEST_ZENDESK__URL": "http://127.attacker.example"})
    assert "zendesk.url" in str(exc.value)
