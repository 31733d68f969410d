"""The organization directory: sender domain → Zendesk organization and its code.

Built from `GET /api/v2/organizations` (ingest/ fetches and caches it).  The
code routing rules match ("T12345") is read from an organization field
(`organization_fields.codigo_cliente` by default) or the organization's
`external_id`, as `[routing.directory] code_from` says.  A domain also covers
its subdomains ("mail.exemplo.com.br" → "exemplo.com.br").
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from parsers.text import fold


class DirectorySettings(BaseModel):
    """`[routing.directory]`: where an organization's code comes from."""

    model_config = ConfigDict(extra="forbid")

    # "external_id", or the key of an organization field.
    code_from: str = "codigo_cliente"


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    code: str | None
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Directory:
    organizations: tuple[Organization, ...] = ()
    _by_domain: Mapping[str, Organization] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, organizations: Iterable[Mapping[str, Any]], code_from: str = "codigo_cliente") -> "Directory":
        orgs: list[Organization] = []
        by_domain: dict[str, Organization] = {}
        for raw in organizations:
            if code_from == "external_id":
                code = raw.get("external_id")
            else:
                code = (raw.get("organization_fields") or {}).get(code_from)
            domains = tuple(d.strip().lower().lstrip("@") for d in raw.get("domain_names") or [] if d and d.strip())
            org = Organization(int(raw["id"]), str(raw.get("name") or ""), str(code).strip() if code else None, domains)
            orgs.append(org)
            for domain in domains:
                # Zendesk refuses a domain on two organizations; keep the first if a copy says otherwise.
                by_domain.setdefault(domain, org)
        return cls(tuple(orgs), by_domain)

    def by_domain(self, domain: str) -> Organization | None:
        parts = domain.strip().lower().lstrip("@").split(".")
        for i in range(len(parts) - 1):
            found = self._by_domain.get(".".join(parts[i:]))
            if found is not None:
                return found
        return None

    def by_name_or_code(self, text: str) -> Organization | None:
        """The organization a mail names, by its code or its name (folded)."""
        wanted = fold(text)
        if not wanted:
            return None
        return next((o for o in self.organizations if o.code and fold(o.code) == wanted), None) or next(
            (o for o in self.organizations if fold(o.name) == wanted), None)

    def __bool__(self) -> bool:
        return bool(self.organizations)
