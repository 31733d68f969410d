"""Field catalogue and organization directory: fetched with pagination, cached in
the ledger database, refreshed on a TTL, and still there after a restart with
Zendesk down."""
from __future__ import annotations

from ingest.emulator import Faults
from ingest.ledger import Ledger
from ingest.zendesk import ZendeskClient
from ingest.zendesk_meta import AccountMetadata, fetch_account
from tests.zendesk_fixtures import emulator_settings, portal_data, portal_emulator  # noqa: F401


def create_engine(url: str):
    """The ledger database, migrated (revision 0003 makes the cache table)."""
    return Ledger.from_url(url).engine


def client_for(emu) -> ZendeskClient:
    return ZendeskClient.from_settings(emulator_settings(emu).zendesk, sleep=lambda _s: None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def meta_for(emu, engine, clock, ttl=3600.0) -> AccountMetadata:
    c = client_for(emu)
    meta = AccountMetadata(fetch=lambda: fetch_account(c), engine=engine, ttl=ttl, clock=clock, background=False)
    meta.start()
    return meta


def test_fetch_follows_cursor_pages(portal_emulator) -> None:
    many = [{"id": 20000 + i, "name": f"Org {i}", "domain_names": [f"org{i}.example"],
             "organization_fields": {"codigo_cliente": f"T{i:05}"}} for i in range(230)]
    portal_emulator.seed_portal({"organizations": many})
    data = fetch_account(client_for(portal_emulator))
    assert len(data["organizations"]) == 230 + len(portal_data()["organizations"])
    org_pages = [r for r in portal_emulator.requests if r.path == "/api/v2/organizations.json"]
    assert len(org_pages) == 3 and all(r.query["page[size]"] == ["100"] for r in org_pages)
    assert [r.query.get("page[after]") is not None for r in org_pages] == [False, True, True]


def test_a_restart_with_zendesk_down_routes_with_the_cached_copy(portal_emulator, tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    first = meta_for(portal_emulator, engine, Clock())
    assert first.account().catalog.field("Módulo").id == 360012

    portal_emulator.set_faults(Faults(error_rate=1.0))  # Zendesk answers 5xx to everything
    clock = Clock()
    clock.now += 7200  # and the copy is stale: the restart tries to refresh, fails, keeps it
    restarted = meta_for(portal_emulator, create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"), clock)
    account = restarted.account()
    assert account is not None and account.catalog.form("Suporte Técnico").id == 9001
    assert account.directory.by_domain("metalurgica-exemplo.com.br").code == "T12345"
    assert restarted.refreshes == 0


def test_the_copy_is_refreshed_after_the_ttl_and_not_before(portal_emulator, tmp_path) -> None:
    clock = Clock()
    meta = meta_for(portal_emulator, create_engine(f"sqlite:///{tmp_path / 'l.sqlite3'}"), clock, ttl=3600)
    assert meta.refreshes == 1
    modulo = next(f for f in portal_data()["ticket_fields"] if f["title"] == "Módulo")
    modulo["custom_field_options"].append({"id": 1, "name": "Compras Públicas", "value": "rm_modulo_compras_publicas"})
    portal_emulator.seed_portal({"ticket_fields": [modulo]})

    clock.now += 3599
    for _ in range(50):  # many tickets, no metadata requests
        meta.account()
    assert meta.refreshes == 1
    assert not meta.account().catalog.field("Módulo").option_by_value("rm_modulo_compras_publicas")

    clock.now += 1
    assert meta.account().catalog.field("Módulo").option_by_value("rm_modulo_compras_publicas")
    assert meta.refreshes == 2
    fetches = [r for r in portal_emulator.requests if r.path == "/api/v2/ticket_fields.json"]
    assert len(fetches) == 2


def test_a_failed_refresh_keeps_the_copy_and_waits_before_trying_again(portal_emulator, tmp_path) -> None:
    clock = Clock()
    meta = meta_for(portal_emulator, None, clock, ttl=600)
    portal_emulator.set_faults(Faults(error_rate=1.0))
    clock.now += 600
    assert meta.account() is not None  # stale but served
    tries = len(portal_emulator.requests)
    clock.now += 10
    meta.account()
    assert len(portal_emulator.requests) == tries  # within the pause: no new try
    portal_emulator.set_faults(Faults())
    clock.now += 120
    meta.account()
    assert meta.refreshes == 2


def test_background_refresh_serves_the_stale_copy_meanwhile(portal_emulator) -> None:
    clock = Clock()
    c = client_for(portal_emulator)
    meta = AccountMetadata(fetch=lambda: fetch_account(c), ttl=60, clock=clock, background=True)
    meta.start()
    old = meta.account()
    clock.now += 61
    assert meta.account() is old  # answered at once with the copy it has
    meta.wait(30)
    assert meta.refreshes == 2 and meta.account() is not old


def test_an_account_without_forms_or_organizations_still_maps_its_fields(portal_emulator, monkeypatch) -> None:
    from ingest.emulator import server

    # As on a plan without ticket forms: the endpoint is not there (404).
    monkeypatch.setattr(server, "ROUTES", [r for r in server.ROUTES if r[2] != "list_ticket_forms"])
    data = fetch_account(client_for(portal_emulator))
    assert data["ticket_forms"] == [] and len(data["ticket_fields"]) == len(portal_data()["ticket_fields"])
    assert len(data["organizations"]) == len(portal_data()["organizations"])


def test_an_outage_fails_the_whole_refresh(portal_emulator, tmp_path) -> None:
    clock = Clock()
    meta = meta_for(portal_emulator, create_engine(f"sqlite:///{tmp_path / 'l.sqlite3'}"), clock, ttl=60)
    old = meta.account()
    portal_emulator.set_faults(Faults(error_rate=1.0))
    clock.now += 60
    assert meta.account() is old and meta.refreshes == 1
