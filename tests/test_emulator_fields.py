"""The emulator validates custom field values strictly and serves fields, forms and
organizations with Zendesk's cursor pagination."""
from __future__ import annotations

import requests

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from tests.zendesk_fixtures import portal_data, portal_emulator  # noqa: F401

AUTH = (f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN)


def create(emu, **ticket):
    body = {"ticket": {"subject": "s", "comment": {"body": "b"}, "requester": {"email": "ana@exemplo.com.br"},
                       **ticket}}
    return requests.post(emu.url + "/api/v2/tickets.json", json=body, auth=AUTH, timeout=10)


def test_a_drop_down_takes_only_an_options_tag(portal_emulator) -> None:
    assert create(portal_emulator, custom_fields=[{"id": 360012, "value": "rm_modulo_fiscal"}]).status_code == 201
    bad = create(portal_emulator, custom_fields=[{"id": 360012, "value": "Fiscal"}])
    assert bad.status_code == 422
    assert "custom_fields.360012" in bad.json()["details"]


def test_each_type_is_checked(portal_emulator) -> None:
    assert create(portal_emulator, custom_fields=[{"id": 360014, "value": "sim"}]).status_code == 422
    assert create(portal_emulator, custom_fields=[{"id": 360014, "value": True}]).status_code == 201
    assert create(portal_emulator, custom_fields=[{"id": 360015, "value": 12}]).status_code == 422
    assert create(portal_emulator, custom_fields=[{"id": 999, "value": "x"}]).status_code == 422
    assert create(portal_emulator, ticket_form_id=1).status_code == 422
    assert create(portal_emulator, ticket_form_id=9001).status_code == 201


def test_organization_id_only_for_a_member(portal_emulator) -> None:
    # ana@metalurgica-exemplo.com.br is new: Zendesk's domain mapping makes her a member of 8008.
    ok = create(portal_emulator, requester={"email": "ana@metalurgica-exemplo.com.br"})
    assert ok.json()["ticket"]["organization_id"] == 8008
    refused = create(portal_emulator, requester={"email": "ana@metalurgica-exemplo.com.br"}, organization_id=8000)
    assert refused.status_code == 422 and "organization_id" in refused.json()["details"]


def test_cursor_pagination_follows_links_next(portal_emulator) -> None:
    seen: list[int] = []
    url = portal_emulator.url + "/api/v2/organizations.json?page[size]=4"
    pages = 0
    while url:
        page = requests.get(url, auth=AUTH, timeout=10).json()
        pages += 1
        seen += [o["id"] for o in page["organizations"]]
        url = page["links"]["next"] if page["meta"]["has_more"] else None
    assert seen == sorted(o["id"] for o in portal_data()["organizations"])
    assert pages == 3
    fields = requests.get(portal_emulator.url + "/api/v2/ticket_fields.json", auth=AUTH, timeout=10).json()
    assert len(fields["ticket_fields"]) == len(portal_data()["ticket_fields"])
    assert requests.get(portal_emulator.url + "/api/v2/ticket_fields.json?page[size]=101", auth=AUTH,
                        timeout=10).status_code == 400
