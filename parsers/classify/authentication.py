"""Did the receiving MX authenticate the sender?  Read from `Authentication-Results`.

The service never checks SPF/DKIM/DMARC itself (no DNS here); our MX did, and
wrote its verdict into an `Authentication-Results` header (RFC 8601), parsed
with `authres`.  Anyone can write such a header into a mail, so:

- only headers whose authserv-id is one of `trusted_authserv_ids` count;
  every other one is ignored (RFC 8601 section 5);
- they are read topmost first: the MX prepends its header, so ours is above
  anything the sender wrote, and the first DMARC result found wins.  RFC 8601
  also requires the MX to remove incoming headers that claim its own
  authserv-id; we rely on that for a header lower down claiming our id;
- the DMARC result is the verdict (`pass`, `fail`; anything else: `none`),
  and only for the domain of our `From` (a pass for another domain does not
  vouch for this sender, so it counts as fail);
- Microsoft 365 writes its header without any authserv-id; with
  `trust_exchange_online` the topmost header, when it has none, is taken as
  Exchange Online's (it is prepended above anything the sender wrote);
- ARC (RFC 8617) is supported for forwarders named in `trusted_arc_sealers`:
  when our own MX says `arc=pass` (it verified the chain) and its DMARC says
  fail or none, the newest ARC set's sealer (`ARC-Seal` d=) must be trusted,
  and the `ARC-Authentication-Results` of that instance gives the verdict.

`authenticate` is pure: no logging, no side effects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import authres
import authres.core

from parsers.classify.security import Outcome, SecuritySettings
from parsers.model import Email

# The name verdicts from Exchange Online's unnamed header go by.
EXCHANGE_ONLINE = "exchange-online"
_AUTHSERV_ID = re.compile(r"^\s*(?:\([^)]*\)\s*)*([^\s;()]+)")
_ARC_INSTANCE = re.compile(r"^\s*i\s*=\s*(\d+)\s*;(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    """The outcome (`pass` | `fail` | `none` | `missing`) and a sentence saying why."""

    outcome: Outcome
    reason: str
    authserv_id: str | None = None
    # The DMARC domain the result is for (header.from), when the header names it.
    domain: str | None = None
    # The verdict came from a trusted ARC sealer, not from our MX's own DMARC check.
    arc_sealer: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.outcome == "pass"


def authenticate(email: Email, settings: SecuritySettings) -> Verdict:
    """The MX's DMARC verdict on `email`, from the trusted Authentication-Results only."""
    trusted = frozenset(settings.trusted_authserv_ids)
    exchange = settings.trust_exchange_online
    if not trusted and not exchange:
        return Verdict("missing", "no trusted_authserv_ids configured: sender authentication is not checked")
    values = email.headers.get("authentication-results", [])
    ignored: list[str] = []
    found: list[tuple[str, authres.core.AuthenticationResultsHeader | None, str]] = []
    for index, value in enumerate(values):
        server = authserv_id(value)
        if exchange and index == 0 and server is not None and "=" in server:
            # Exchange Online's own header: no authserv-id, results straight away.
            server, value = EXCHANGE_ONLINE, f"{EXCHANGE_ONLINE}; {value}"
            found.append((server, *_try_parse(value)))
            continue
        if server is None or server not in trusted:
            ignored.append(server or "?")
            continue
        found.append((server, *_try_parse(value)))
    if not found:
        why = "no Authentication-Results header"
        if ignored:
            why = f"no Authentication-Results from a trusted authserv-id (ignored: {', '.join(ignored)})"
        return Verdict("missing", why)
    domain = email.sender_domain
    verdict: Verdict | None = None
    malformed: Verdict | None = None
    arc_passed = False
    for server, header, error in found:
        if header is None:
            malformed = malformed or Verdict("none", f"Authentication-Results from {server} is malformed: {error}",
                                             server)
            continue
        arc_passed = arc_passed or any(r.method == "arc" and (r.result or "").lower() == "pass"
                                       for r in header.results)
        dmarc = next((r for r in header.results if r.method == "dmarc"), None)
        if dmarc is not None:
            verdict = _dmarc_verdict(dmarc, server, domain)
            break
    if verdict is None:
        verdict = malformed or Verdict("none", f"Authentication-Results from {found[0][0]} has no DMARC result",
                                       found[0][0])
    if verdict.outcome != "pass" and arc_passed and settings.trusted_arc_sealers:
        verdict = _arc_verdict(email, settings, domain) or verdict
    if verdict.outcome == "pass" and _requester_not_from_author(email):
        # DMARC vouches for the From domain only.  A requester parse took from
        # Sender or Reply-To (From held no address) is not what was checked.
        return Verdict("none", f"{verdict.reason}, but the requester {email.requester.email} is not the"
                               " From author (From has no address)", verdict.authserv_id, verdict.domain)
    return verdict


def _requester_not_from_author(email: Email) -> bool:
    return any(d.startswith("requester taken from ") for d in email.defects)


def authserv_id(value: str) -> str | None:
    """The authserv-id an Authentication-Results value starts with, lowercased (comments skipped)."""
    match = _AUTHSERV_ID.match(value)
    return match.group(1).lower() if match else None


def _try_parse(value: str) -> tuple[authres.core.AuthenticationResultsHeader | None, str]:
    """(the parsed header, "") or (None, why it is unreadable)."""
    try:
        return _parse(value), ""
    except Exception as exc:  # noqa: BLE001 - AuthResError, or a parser bug: either way unreadable
        return None, f"{type(exc).__name__}: {exc}"


def _parse(value: str) -> authres.core.AuthenticationResultsHeader:
    return authres.core.AuthenticationResultsHeader.parse_value(authres.core_features(), value)


def _dmarc_verdict(dmarc: authres.core.AuthenticationResult, server: str, domain: str) -> Verdict:
    header_from = _property(dmarc, "header", "from")
    result = (dmarc.result or "").lower()
    if header_from is not None and header_from.lower().strip(".") != domain:
        # The MX judged another From than the one we read (two From headers,
        # say): its verdict says nothing about this sender.
        return Verdict("fail", f"{server}: dmarc={result} is for {header_from}, but the mail is from {domain}",
                       server, header_from.lower())
    if result == "pass":
        return Verdict("pass", f"{server}: dmarc=pass for {header_from or domain}", server, header_from or domain)
    if result == "fail":
        return Verdict("fail", f"{server}: dmarc=fail for {header_from or domain}", server, header_from or domain)
    return Verdict("none", f"{server}: dmarc={result or '?'} for {header_from or domain} (no usable DMARC policy)",
                   server, header_from or domain)


def _arc_verdict(email: Email, settings: SecuritySettings, domain: str) -> Verdict | None:
    """The DMARC pass a trusted forwarder recorded before forwarding, else None."""
    seals = [_tags(v) for v in email.headers.get("arc-seal", [])]
    seals = [s for s in seals if s.get("i", "").isdigit()]
    if not seals:
        return None
    newest = max(seals, key=lambda s: int(s["i"]))
    sealer = newest.get("d", "").lower()
    if newest.get("cv", "").lower() == "fail" or sealer not in settings.trusted_arc_sealers:
        return None
    for value in email.headers.get("arc-authentication-results", []):
        match = _ARC_INSTANCE.match(value)
        if not match or match.group(1) != newest["i"]:
            continue
        try:
            header = _parse(match.group(2))
        except Exception:  # noqa: BLE001 - unreadable: no ARC verdict
            return None
        dmarc = next((r for r in header.results if r.method == "dmarc"), None)
        if dmarc is None:
            return None
        inner = _dmarc_verdict(dmarc, header.authserv_id or sealer, domain)
        if inner.outcome != "pass":
            return None
        return Verdict("pass", f"ARC: trusted sealer {sealer} (i={newest['i']}) recorded {inner.reason}",
                       inner.authserv_id, inner.domain, arc_sealer=sealer)
    return None


def _tags(value: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in value.split(";"):
        name, eq, tag_value = item.partition("=")
        if eq:
            tags[name.strip().lower()] = "".join(tag_value.split())
    return tags


def _property(result: authres.core.AuthenticationResult, ptype: str, name: str) -> str | None:
    for prop in result.properties or []:
        if (prop.type or "").lower() == ptype and (prop.name or "").lower() == name:
            return str(prop.value or "").strip() or None
    return None


__all__ = ["Verdict", "authenticate", "authserv_id"]
