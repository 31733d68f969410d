"""The body's organization and CC list never speak for someone else (routing.sender_org, ingest.tickets)."""
from __future__ import annotations

from ingest import tickets
from ingest.settings import Settings
from parsers.model import Address, Email, Fields
from routing import route
from routing.config import RoutingSettings
from routing.model import Route
from routing.organizations import Directory
from routing.sender_org import restrict, same_organization

MAPPING = {"metalurgica-exemplo.com.br": "T12345", "agro-exemplo.com.br": "T777"}
CFG = RoutingSettings(
    default_group_id=100, organizations=MAPPING,
    rules=[{"name": "T12345 VIP", "when": {"organization": "T12345"}, "set": {"group_id": 900}}],
)


def mail(body: str, sender: str) -> Email:
    return Email(key="k", requester=Address(email=sender), subject="Erro", body_text=body)


def test_a_stranger_naming_a_known_customer_code_is_not_routed_as_that_customer() -> None:
    result = route(mail("Organização: T12345\nProduto: RM\n", "intruso@gmail.com"), CFG)
    assert result.rule is None and result.group_id == 100
    assert result.fields.organization is None
    assert any("'T12345'" in r and "not used" in r for r in result.reasons)


def test_a_customer_naming_another_customer_code_is_routed_as_itself() -> None:
    result = route(mail("Organização: T12345\n", "ana@agro-exemplo.com.br"), CFG)
    assert result.rule is None
    assert result.fields.organization == "T777"


def test_a_customer_naming_its_own_organization_routes_as_before() -> None:
    result = route(mail("Organização: T12345\n", "jose@metalurgica-exemplo.com.br"), CFG)
    assert (result.rule, result.fields.organization) == ("T12345 VIP", "T12345")
    by_name = route(mail("Organização: Metalúrgica Exemplo Ltda\n", "jose@metalurgica-exemplo.com.br"), CFG)
    assert (by_name.rule, by_name.fields.organization) == ("T12345 VIP", "Metalúrgica Exemplo Ltda")


def test_a_name_from_an_unmapped_sender_is_kept_but_cannot_match_a_mapped_code() -> None:
    result = route(mail("Organização: Padaria Boa Ltda\n", "dono@padaria.com.br"), CFG)
    assert result.fields.organization == "Padaria Boa Ltda"


def test_restrict_is_pure_and_says_why() -> None:
    fields = Fields(organization="T777")
    ticket, by, why = restrict(fields, "jose@metalurgica-exemplo.com.br", MAPPING)
    assert (ticket.organization, by.organization) == ("T12345", None)
    assert why is not None and "T777" in why and "T12345" in why
    assert restrict(Fields(), "x@y.com", MAPPING) == (Fields(), Fields(), None)


def test_same_organization() -> None:
    assert same_organization("carla@metalurgica-exemplo.com.br", "jose@filial.metalurgica-exemplo.com.br", MAPPING)
    assert same_organization("b@padaria.com.br", "a@padaria.com.br", {})
    assert not same_organization("vitima@agro-exemplo.com.br", "jose@metalurgica-exemplo.com.br", MAPPING)
    assert not same_organization("alguem@gmail.com", "intruso@gmail.com.br", MAPPING)


def _route(extra: list[str]) -> Route:
    return Route(extra_ccs=extra)


def test_body_listed_ccs_outside_the_organization_are_listed_not_ccd() -> None:
    settings = Settings(routing={"organizations": MAPPING})
    email = Email(key="k", requester=Address(email="jose@metalurgica-exemplo.com.br"), subject="x",
                  body_text="corpo", cc=["copiado@fornecedor.com"])
    body_listed = ["carla@metalurgica-exemplo.com.br", "vitima@agro-exemplo.com.br", "copiado@fornecedor.com"]
    p = tickets.plan(email, _route(body_listed), settings)
    # The header Cc was really sent the mail; the body list only names people.
    assert p.ccs == ["copiado@fornecedor.com", "carla@metalurgica-exemplo.com.br"]
    assert p.listed_ccs == ["vitima@agro-exemplo.com.br"]
    body = tickets.comment_body(email, p)
    assert "not added (outside the requester's organization): vitima@agro-exemplo.com.br" in body


def test_body_ccs_any_keeps_the_old_behaviour() -> None:
    settings = Settings(routing={"organizations": MAPPING}, security={"body_ccs": "any"})
    email = Email(key="k", requester=Address(email="jose@metalurgica-exemplo.com.br"), subject="x", body_text="c")
    p = tickets.plan(email, _route(["vitima@agro-exemplo.com.br"]), settings)
    assert p.ccs == ["vitima@agro-exemplo.com.br"] and p.listed_ccs == []


DIRECTORY = Directory.from_api([
    {"id": 1, "name": "Metalúrgica Exemplo Ltda", "domain_names": ["metalurgica-exemplo.com.br"],
     "organization_fields": {"codigo_cliente": "T12345"}},
    {"id": 2, "name": "Padaria Boa", "domain_names": ["padaria.com.br"], "organization_fields": {}},
])


def test_with_the_zendesk_directory() -> None:
    # A stranger naming a customer by its name: not believed.
    ticket, by, why = restrict(Fields(organization="Metalurgica Exemplo LTDA"), "x@gmail.com", {}, DIRECTORY)
    assert ticket.organization is None and by.organization is None and why
    # The customer itself, by name: as written.
    mine = Fields(organization="Metalúrgica Exemplo Ltda")
    assert restrict(mine, "jose@metalurgica-exemplo.com.br", {}, DIRECTORY) == (mine, mine, None)
    # A directory customer without a code naming another customer: routed as itself, by name.
    ticket, by, why = restrict(Fields(organization="T12345"), "dono@padaria.com.br", {}, DIRECTORY)
    assert (ticket.organization, by.organization) == ("Padaria Boa", None) and why
