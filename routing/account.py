"""What routing knows of the Zendesk account: its field catalogue and organization directory.

ingest/ fetches and caches the API's JSON; routing builds this snapshot from
it and never talks to Zendesk itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.catalog import Catalog
from routing.organizations import Directory


@dataclass(frozen=True)
class Account:
    catalog: Catalog = field(default_factory=Catalog)
    directory: Directory = field(default_factory=Directory)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], code_from: str = "codigo_cliente") -> "Account":
        """From {"ticket_fields": [...], "ticket_forms": [...], "organizations": [...]} as the API returns them."""
        return cls(
            Catalog.from_api(data.get("ticket_fields") or [], data.get("ticket_forms") or []),
            Directory.from_api(data.get("organizations") or [], code_from),
        )
