"""The sender's own organization outranks what the body says (issue 15).

Anyone can write "Organização: T12345" in a mail.  The sender's own
organization comes from who they are: the `[routing.organizations]`
domain mapping, else the Zendesk organization directory (routing.organizations)
by the sender's domain.  So:

- a sender whose domain maps to an organization is routed as that
  organization, whatever the body names; the ticket keeps the body's text
  (often the organization's name, which only a directory can compare) unless
  it is another known organization's code;
- a body naming an organization we know by its domains, from a sender outside
  those domains, is not believed: the mail is routed as if it named none;
- a body naming an organization we know nothing about is kept as written
  (customers whose domains are not mapped yet).

`same_organization` answers the CC question the same way: an address is in the
requester's organization when it shares the requester's domain or maps to the
same organization.
"""
from __future__ import annotations

from collections.abc import Mapping

from parsers.model import Fields
from parsers.text import fold
from routing.organizations import Directory


def domain_organization(address: str, mapping: Mapping[str, str]) -> str | None:
    """The code `[routing.organizations]` maps the address's domain (or a parent domain) to."""
    domain = address.rpartition("@")[2].strip().lower()
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        code = mapping.get(".".join(parts[i:]))
        if code:
            return code
    return None


def restrict(
    fields: Fields, sender: str, mapping: Mapping[str, str], directory: Directory | None = None
) -> tuple[Fields, Fields, str | None]:
    """(fields for the ticket, fields to route by, a reason when the body's organization was not taken).

    Rules match the organization candidates built from the second; the
    ticket keeps what the customer wrote unless it names another known
    organization.  The sender's own organization: `[routing.organizations]`
    for its domain, else the Zendesk directory's organization for it.
    """
    named = fields.organization
    if not named:
        return fields, fields, None
    domain = sender.rpartition("@")[2].lower()
    own_code = domain_organization(sender, mapping)
    own_org = directory.by_domain(domain) if directory else None
    named_org = directory.by_name_or_code(named) if directory else None
    if own_code is None and own_org is not None:
        own_code = own_org.code
    own = own_code or (own_org.name if own_org is not None else None)
    same = (own_code is not None and fold(own_code) == fold(named)) or (
        own_org is not None and (fold(own_org.name) == fold(named) or (named_org is not None and named_org.id == own_org.id))
    )
    if same:
        return fields, fields, None
    # Known: we know which domains belong to it, so we can tell the sender is not one of them.
    known = (named_org is not None and bool(named_org.domains)) or any(
        fold(code) == fold(named) for code in mapping.values()
    )
    unnamed = fields.model_copy(update={"organization": None})
    if own is not None:
        why = f"the mail names organization {named!r}; routed as the sender's own, {own!r} (domain {domain})"
        ticket = fields.model_copy(update={"organization": own}) if known else fields
        return ticket, unnamed, why
    if known:
        return unnamed, unnamed, (f"the mail names organization {named!r}, whose domains do not include the"
                                  f" sender's ({domain}): not used")
    return fields, fields, None


def same_organization(address: str, requester: str, mapping: Mapping[str, str]) -> bool:
    """Is `address` in the requester's organization (same domain, or mapped to the same code)?"""
    domain = address.rpartition("@")[2].strip().lower()
    own_domain = requester.rpartition("@")[2].strip().lower()
    if domain and domain == own_domain:
        return True
    own = domain_organization(requester, mapping)
    return own is not None and domain_organization(address, mapping) == own


__all__ = ["domain_organization", "restrict", "same_organization"]
