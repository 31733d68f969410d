"""Token providers against the identity-provider stand-in (tests/idp.py), through msal and google-auth."""
from __future__ import annotations

import pytest

from ingest.auth import build_provider
from ingest.errors import AuthError, TokenUnavailable
from ingest.settings import ImapSettings
from tests.idp import IdentityProvider, idp  # noqa: F401 - the fixture

TENANT = "7c1f0d2e-4b6a-4a8e-9d1c-2f3e4a5b6c7d"
CLIENT = "0a1b2c3d-1111-2222-3333-444455556666"
MAILBOX = "atendimento@empresa.example"


def microsoft(idp: IdentityProvider, **extra: object) -> ImapSettings:
    return ImapSettings(auth="microsoft", username=MAILBOX, tenant_id=TENANT, client_id=CLIENT,
                        authority=idp.url, oauth_ca_bundle=idp.ca_file, **extra)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_microsoft_secret_gets_a_token_and_renews_it_before_expiry(idp: IdentityProvider) -> None:
    creds = idp.register_entra(TENANT, CLIENT, (MAILBOX,))
    clock = Clock()
    provider = build_provider(microsoft(idp, client_secret=creds["secret"]), clock=clock)
    first = provider.token()
    assert first in idp.issued_tokens() and provider.token() == first  # cached
    assert provider.expires_at == pytest.approx(clock.now + 5)
    clock.now += 2.4  # the margin is half of a 5 s lifetime
    assert provider.token() == first
    clock.now += 0.2
    second = provider.token()
    assert second != first and idp.count("token", CLIENT) == 2
    provider.invalidate()
    assert provider.token() not in (first, second)
    assert "microsoft tenant=" in provider.describe() and creds["secret"] not in provider.describe()


def test_microsoft_certificate_signs_the_client_assertion(idp: IdentityProvider) -> None:
    creds = idp.register_entra(TENANT, CLIENT, (MAILBOX,), secret=False, certificate=True)
    by_thumbprint = build_provider(microsoft(idp, client_certificate_key=creds["key"],
                                             client_certificate_thumbprint=creds["thumbprint"]))
    assert by_thumbprint.token() in idp.issued_tokens()


def test_microsoft_certificate_file_uses_its_sha256_thumbprint(idp: IdentityProvider, tmp_path) -> None:  # noqa: ANN001
    creds = idp.register_entra(TENANT, CLIENT, (MAILBOX,), secret=False, certificate=True)
    cert = tmp_path / "app.pem"
    cert.write_text(creds["certificate"])
    provider = build_provider(microsoft(idp, client_certificate_key=creds["key"], client_certificate_path=cert))
    assert provider.token() in idp.issued_tokens()


def test_microsoft_refusal_names_tenant_client_and_aadsts_code(idp: IdentityProvider) -> None:
    idp.register_entra(TENANT, CLIENT, (MAILBOX,))
    provider = build_provider(microsoft(idp, client_secret="wrong-secret-value"))
    with pytest.raises(AuthError) as refused:
        provider.token()
    assert refused.value.code == "AADSTS7000215"
    assert TENANT in str(refused.value) and CLIENT in str(refused.value)
    assert "wrong-secret-value" not in str(refused.value)


def test_microsoft_unreachable_authority_is_an_outage_not_a_refusal(idp: IdentityProvider) -> None:
    settings = microsoft(idp, client_secret="x").model_copy(update={"authority": "https://127.0.0.1:9"})
    with pytest.raises(TokenUnavailable):
        build_provider(settings).token()


def test_google_service_account_acts_for_the_mailbox_user(idp: IdentityProvider) -> None:
    key = idp.register_service_account("bso-ingest@proj.iam.gserviceaccount.com", (MAILBOX,))
    provider = build_provider(ImapSettings(auth="google", username=MAILBOX, google_service_account=key,
                                           oauth_ca_bundle=idp.ca_file))
    token = provider.token()
    assert token in idp.issued_tokens()
    assert 3 < (provider.expires_at or 0) - __import__("time").time() <= 5
    assert "service account bso-ingest@proj.iam.gserviceaccount.com as " + MAILBOX in provider.describe()
    # No delegation for another user: unauthorized_client.
    other = build_provider(ImapSettings(auth="google", username="outro@empresa.example", google_service_account=key,
                                        oauth_ca_bundle=idp.ca_file))
    with pytest.raises(AuthError) as refused:
        other.token()
    assert refused.value.code == "unauthorized_client"


def test_google_refresh_token_and_its_revocation(idp: IdentityProvider) -> None:
    app = idp.register_installed_app("123-abc.apps.googleusercontent.com", MAILBOX)
    settings = ImapSettings(auth="google", username=MAILBOX, client_id="123-abc.apps.googleusercontent.com",
                            client_secret=app["client_secret"], refresh_token=app["refresh_token"],
                            token_uri=idp.google_token_uri, oauth_ca_bundle=idp.ca_file)
    provider = build_provider(settings)
    assert provider.token() in idp.issued_tokens()
    idp.revoke("123-abc.apps.googleusercontent.com")
    provider.invalidate()
    with pytest.raises(AuthError) as refused:
        provider.token()
    assert refused.value.code == "invalid_grant"
    assert app["refresh_token"] not in str(refused.value)


def test_incomplete_auth_settings_are_refused_at_load() -> None:
    with pytest.raises(ValueError, match="imap.tenant_id"):
        ImapSettings(auth="microsoft", client_id="x", client_secret="y")
    with pytest.raises(ValueError, match="google_service_account or imap.refresh_token"):
        ImapSettings(auth="google")
    assert ImapSettings(oauth_token="t").auth_kind(True) == "oauth2_static"
