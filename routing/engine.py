"""PLACEHOLDER (issue 5 replaces this): rules → Route."""
from __future__ import annotations

from typing import TYPE_CHECKING

from parsers.fields import extract_fields
from parsers.model import Email
from routing.model import Route

if TYPE_CHECKING:
    from ingest.settings import Settings


def route(email: Email, settings: "Settings") -> Route:
    return Route(fields=extract_fields(email), group_id=settings.routing.default_group_id)
