"""Authentication-Results → the DMARC verdict we trust (parsers.classify.authentication).

Header values follow the shapes real MXs write (RFC 8601 examples, Postfix +
OpenDKIM/OpenDMARC, Microsoft 365, Gmail's ARC sets), written by hand here.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from parsers import parse
from parsers.classify.authentication import authenticate, authserv_id
from parsers.classify.security import SecuritySettings
from parsers.model import Address, Email

OURS = "mx.totvs.com.br"
SETTINGS = SecuritySettings(trusted_authserv_ids=[OURS])


def mail(*headers: str, sender: str = "ana@cliente.com.br") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        f"{head}From: Ana <{sender}>\r\nTo: atendimento.bsorm@totvs.com.br\r\nSubject: Erro\r\n"
        "Message-ID: <a1@cliente.com.br>\r\n\r\nCorpo.\r\n"
    ).encode()


def verdict(*headers: str, settings: SecuritySettings = SETTINGS, sender: str = "ana@cliente.com.br"):
    return authenticate(parse(mail(*headers, sender=sender)), settings)


def test_dmarc_pass_from_our_mx_is_pass() -> None:
    v = verdict(f"Authentication-Results: {OURS}; spf=pass smtp.mailfrom=cliente.com.br;"
                " dkim=pass header.d=cliente.com.br; dmarc=pass (p=quarantine) header.from=cliente.com.br")
    assert (v.outcome, v.authserv_id, v.domain) == ("pass", OURS, "cliente.com.br")
    assert v.authenticated


def test_dmarc_fail_from_our_mx_is_fail() -> None:
    v = verdict(f"Authentication-Results: {OURS}; spf=fail smtp.mailfrom=evil.example;"
                " dkim=none; dmarc=fail (p=reject dis=none) header.from=cliente.com.br")
    assert v.outcome == "fail"
    assert "dmarc=fail" in v.reason


def test_an_untrusted_authserv_id_is_ignored() -> None:
    # The sender wrote this one: it claims a pass, from a server that is not ours.
    v = verdict("Authentication-Results: mx.evil.example; dmarc=pass header.from=cliente.com.br")
    assert v.outcome == "missing"
    assert "mx.evil.example" in v.reason


def test_a_forged_pass_below_our_fail_does_not_win() -> None:
    v = verdict(
        f"Authentication-Results: {OURS}; dmarc=fail header.from=cliente.com.br",
        "Authentication-Results: mx.evil.example; dmarc=pass header.from=cliente.com.br",
    )
    assert v.outcome == "fail"


def test_several_trusted_headers_are_read_topmost_first() -> None:
    # Postfix with milters: OpenDMARC prepends its header above OpenDKIM's and SPF's.
    v = verdict(
        f"Authentication-Results: {OURS}; dmarc=fail (p=none) header.from=cliente.com.br",
        f"Authentication-Results: {OURS}; dkim=fail header.d=cliente.com.br",
        f"Authentication-Results: {OURS}; dmarc=pass header.from=cliente.com.br",
    )
    assert v.outcome == "fail"


def test_the_first_trusted_header_with_a_dmarc_result_wins() -> None:
    v = verdict(
        f"Authentication-Results: {OURS}; spf=pass smtp.mailfrom=cliente.com.br",
        f"Authentication-Results: {OURS}; dmarc=pass header.from=cliente.com.br",
    )
    assert v.outcome == "pass"


def test_a_trusted_header_without_dmarc_is_none() -> None:
    v = verdict(f"Authentication-Results: {OURS}; spf=pass smtp.mailfrom=cliente.com.br")
    assert v.outcome == "none"


@pytest.mark.parametrize("result", ["none", "temperror", "permerror", "bestguesspass"])
def test_other_dmarc_results_are_none(result: str) -> None:
    assert verdict(f"Authentication-Results: {OURS}; dmarc={result} header.from=cliente.com.br").outcome == "none"


@pytest.mark.parametrize("value", [
    f"{OURS}",  # no resinfo, no "none"
    f"{OURS}; dmarc",  # method without a result
    f"{OURS}; =pass header.from=cliente.com.br",  # result without a method
    f"{OURS}; (unterminated comment dmarc=pass",
])
def test_a_malformed_trusted_header_is_none_with_the_reason(value: str) -> None:
    v = verdict(f"Authentication-Results: {value}")
    assert v.outcome == "none"
    assert "malformed" in v.reason


def test_garbage_from_an_untrusted_server_is_ignored() -> None:
    assert verdict("Authentication-Results: ;;;===").outcome == "missing"


def test_no_header_is_missing() -> None:
    v = verdict()
    assert v.outcome == "missing"
    assert "no Authentication-Results" in v.reason


def test_without_trusted_ids_the_check_is_off() -> None:
    v = verdict(f"Authentication-Results: {OURS}; dmarc=pass header.from=cliente.com.br", settings=SecuritySettings())
    assert v.outcome == "missing"
    assert "trusted_authserv_ids" in v.reason


def test_a_pass_for_another_domain_is_a_fail_for_this_sender() -> None:
    v = verdict(f"Authentication-Results: {OURS}; dmarc=pass header.from=evil.example")
    assert v.outcome == "fail"
    assert "evil.example" in v.reason


def test_authserv_id_case_and_version_and_comments() -> None:
    assert authserv_id("MX.Totvs.COM.br 1; dkim=pass") == OURS
    assert authserv_id("(our border) mx.totvs.com.br; none") == OURS
    assert verdict("Authentication-Results: MX.TOTVS.COM.BR 1; DMARC=pass header.from=Cliente.com.br").outcome == "pass"


def test_microsoft_365_shape() -> None:
    v = verdict(f"Authentication-Results: {OURS}; spf=pass (sender IP is 203.0.113.5)"
                " smtp.mailfrom=cliente.com.br; dkim=pass (signature was verified) header.d=cliente.com.br;"
                "dmarc=pass action=none header.from=cliente.com.br;compauth=pass reason=100")
    assert v.outcome == "pass"


ARC = SecuritySettings(trusted_authserv_ids=[OURS], trusted_arc_sealers=["google.com"])
ARC_HEADERS = (
    f"Authentication-Results: {OURS}; dmarc=fail header.from=cliente.com.br; arc=pass (i=1)",
    "ARC-Seal: i=1; a=rsa-sha256; t=1700000000; cv=none; d=google.com; s=arc-20160816; b=AAAA",
    "ARC-Authentication-Results: i=1; mx.google.com; dkim=pass header.i=@cliente.com.br;"
    " dmarc=pass (p=REJECT) header.from=cliente.com.br",
)


def test_arc_from_a_trusted_sealer_turns_a_forwarding_fail_into_pass() -> None:
    v = verdict(*ARC_HEADERS, settings=ARC)
    assert (v.outcome, v.arc_sealer) == ("pass", "google.com")


def test_arc_is_not_used_unless_configured() -> None:
    assert verdict(*ARC_HEADERS).outcome == "fail"


def test_arc_needs_our_mx_to_have_verified_the_chain() -> None:
    headers = (ARC_HEADERS[0].replace("arc=pass", "arc=fail"), *ARC_HEADERS[1:])
    assert verdict(*headers, settings=ARC).outcome == "fail"


def test_arc_from_an_untrusted_sealer_is_ignored() -> None:
    headers = (ARC_HEADERS[0], ARC_HEADERS[1].replace("d=google.com", "d=evil.example"), ARC_HEADERS[2])
    assert verdict(*headers, settings=ARC).outcome == "fail"


def test_arc_recorded_fail_stays_fail() -> None:
    headers = (*ARC_HEADERS[:2], ARC_HEADERS[2].replace("dmarc=pass", "dmarc=fail"))
    assert verdict(*headers, settings=ARC).outcome == "fail"


def test_policy_settings_are_checked() -> None:
    assert SecuritySettings().actions("fail") == {"no_thread", "tag"}
    assert SecuritySettings().actions("missing") == frozenset()
    assert SecuritySettings().actions("pass") == frozenset()
    with pytest.raises(ValidationError):
        SecuritySettings(on_dmarc_fail=["quarantine", "tag"])
    with pytest.raises(ValidationError):
        SecuritySettings(on_missing=[])
    with pytest.raises(ValidationError):
        SecuritySettings(on_dmarc_none=["reject"])


@given(st.lists(st.text(max_size=80), max_size=4), st.lists(st.text(max_size=60), max_size=2))
def test_any_header_text_gives_a_verdict_never_an_error(results: list[str], seals: list[str]) -> None:
    email = Email(key="k", requester=Address(email="ana@cliente.com.br"), headers={
        "authentication-results": [f"{OURS};{r}" for r in results] + results,
        "arc-seal": seals, "arc-authentication-results": [f"i=1; {s}" for s in seals],
    })
    assert authenticate(email, ARC).outcome in ("pass", "fail", "none", "missing")


EXCHANGE = SecuritySettings(trust_exchange_online=True)
M365 = ("spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=evil.example; dkim=none (message not signed)"
        " header.d=none;dmarc=fail action=quarantine header.from=cliente.com.br;compauth=fail reason=000")


def test_exchange_online_headers_without_an_authserv_id() -> None:
    v = verdict(f"Authentication-Results: {M365}", settings=EXCHANGE)
    assert (v.outcome, v.authserv_id) == ("fail", "exchange-online")
    passing = M365.replace("dmarc=fail action=quarantine", "dmarc=pass action=none")
    assert verdict(f"Authentication-Results: {passing}", settings=EXCHANGE).outcome == "pass"
    # Not trusted unless configured...
    assert verdict(f"Authentication-Results: {passing}").outcome == "missing"
    # ...and only the topmost one: a sender's unnamed header below Microsoft's does not count.
    assert verdict(f"Authentication-Results: {M365}", f"Authentication-Results: {passing}",
                   settings=EXCHANGE).outcome == "fail"
