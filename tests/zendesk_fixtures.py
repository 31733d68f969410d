"""The `zendesk_emulator` pytest fixture, for any test that needs a Zendesk.

Use it from another test module with::

    from tests.zendesk_fixtures import zendesk_emulator, emulator_settings  # noqa: F401

    def test_something(zendesk_emulator):
        settings = emulator_settings(zendesk_emulator)          # Settings aimed at it
        sink = build_sink(settings, sleep=lambda s: None)       # ZendeskSink, no real waits
        ...
        assert len(zendesk_emulator.tickets) == 1

The fixture starts `ingest.emulator.Emulator` (a real HTTP/1.1 server) on a
free loopback port in a thread, strict mode on, no faults, and stops it after
the test.  The object it yields has:

- `.url`: base URL, e.g. `http://127.0.0.1:40123` (put it in `[zendesk] url`).
- `.requests`: list of `LoggedRequest(method, path, query, headers, body,
  status, fault, at)` in the order they were answered (a request inside
  injected latency is not there yet: `.received` counts requests read,
  answered or not); headers are lowercased,
  `status` is None when the connection was dropped, `fault` names an
  injected fault ("error", "throttle", "rate_limited", "reset_after_create", "reset_after_update",
  "slow_update": a ticket update held past the client's timeout and processed anyway).
  `.json()` decodes the body.
- `.tickets`: dict id -> `Ticket` (subject, requester_id, submitter_id,
  status, priority, type, group_id, tags, custom_fields, external_id,
  recipient, email_cc_ids, via_followup_source_id, comments).  Each
  `Comment` has author_id, updater_id, body, public and `attachments`
  (`StoredFile`: file_name, content_type, content bytes, sha256).
- `.users`: dict id -> `User(id, email, name, role)`; `.store.user_by_email(a)`.
- `.set_faults(Faults(seed=..., latency=..., error_rate=..., throttle_rate=...,
  reset_after_create_rate=..., reset_after_update_rate=..., rate_limit=..., rate_window=..., retry_after=...))`:
  fault knobs (see ingest/emulator/faults.py); the same seed gives the same
  faults for the same sequence of requests.  `.faults` is the current set.
- `.strict`: set False to accept undocumented fields.
- `.refused_extensions`: set of extensions (no dot, lowercase) whose uploads
  the account refuses with 422, like Zendesk's "allowed file types" setting.
- `.store.expire_idempotency_keys()`: as if Zendesk's 2 hours had passed.
- `.reset()`: empty account, empty log, no faults (seeded fields, forms and
  organizations stay).
- `portal_emulator`: the same, seeded with the portal's ticket fields, the
  "Suporte Técnico" form and organizations (`seed_portal(portal_data())`).

Credentials: `DEFAULT_EMAIL` + `DEFAULT_API_TOKEN` (basic `{email}/token:{token}`)
or `DEFAULT_OAUTH_TOKEN` (bearer), all importable from `ingest.emulator`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, DEFAULT_OAUTH_TOKEN, Emulator
from ingest.settings import Settings
from parsers.model import Address, Attachment, Email

SUPPORT = "atendimento.bsorm@totvs.com.br"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def zendesk_emulator() -> Iterator[Emulator]:
    emu = Emulator("127.0.0.1", 0, strict=True).start()
    try:
        yield emu
    finally:
        emu.stop()


def emulator_settings(emu: Emulator, *, oauth: bool = False, **sections: dict[str, Any]) -> Settings:
    """Settings with `[zendesk]` aimed at the emulator, dry_run off; `sections` override
    whole sections' keys, e.g. `attachments={"max_bytes": 10}`."""
    zendesk: dict[str, Any] = {"url": emu.url, "email": DEFAULT_EMAIL, "retry_budget_seconds": 60.0}
    zendesk.update({"oauth_token": DEFAULT_OAUTH_TOKEN} if oauth else {"api_token": DEFAULT_API_TOKEN})
    zendesk.update(sections.pop("zendesk", {}))
    service = {"dry_run": False, **sections.pop("service", {})}
    return Settings(zendesk=zendesk, service=service, **sections)


def attachment(filename: str, content: bytes, content_type: str = "application/octet-stream") -> Attachment:
    return Attachment(filename=filename, content_type=content_type, size=len(content),
                      sha256=hashlib.sha256(content).hexdigest(), content=content)


def make_email(n: int = 1, **fields: Any) -> Email:
    """A small parsed message; `n` varies its key, sender and text."""
    base: dict[str, Any] = {
        "key": hashlib.sha256(f"message-{n}".encode()).hexdigest(),
        "message_id": f"<m{n}@cliente.example>",
        "requester": Address(name=f"Cliente {n}", email=f"cliente{n}@cliente.example"),
        "to": [SUPPORT],
        "subject": f"Problema {n}",
        "body_text": f"Olá, o sistema falhou no passo {n}.\nObrigado.",
    }
    base.update(fields)
    return Email(**base)


# The portal's Zendesk configuration (fields, the "Suporte Técnico" form,
# organizations): ../shared/zendesk/portal-form.json, else the repo's copy of it.
_SHARED_PORTAL = REPO_ROOT.parent / "shared" / "zendesk" / "portal-form.json"
PORTAL_FORM = _SHARED_PORTAL if _SHARED_PORTAL.is_file() else REPO_ROOT / "ingest" / "demo" / "portal-form.json"


def portal_data() -> dict[str, Any]:
    return json.loads(PORTAL_FORM.read_text(encoding="utf-8"))


@pytest.fixture
def portal_emulator() -> Iterator[Emulator]:
    """A strict emulator seeded with the portal's fields, form and organizations."""
    emu = Emulator("127.0.0.1", 0, strict=True).seed_portal(portal_data()).start()
    try:
        yield emu
    finally:
        emu.stop()
