"""What the classifiers read: the `[classify]` section, and who "we" are.

`ClassifySettings` is the `[classify]` table of settings.toml; the app's settings
compose it.  `ClassifyConfig` adds the facts the classifiers need from other
sections (our support addresses, our Zendesk host), so a check never reaches
into the whole application's settings.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field


class ClassifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Per-sender rate guard: more than `sender_limit` messages from one address
    # within `sender_window_seconds` are skipped as a loop.
    sender_limit: int = Field(default=20, ge=1)
    sender_window_seconds: float = Field(default=600.0, gt=0)
    # Senders whose mail is Zendesk's own notifications (never a ticket).
    notification_senders: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class ClassifyConfig:
    """Everything `classify()` needs, lowercased once."""

    support_addresses: frozenset[str] = frozenset()
    notification_senders: frozenset[str] = frozenset()
    # Mail from this host (or its subdomains) is our own Zendesk's.
    zendesk_host: str = ""

    @classmethod
    def compose(
        cls, section: ClassifySettings, *, support_addresses: Iterable[str], zendesk_url: str = ""
    ) -> "ClassifyConfig":
        return cls(
            support_addresses=frozenset(a.lower() for a in support_addresses),
            notification_senders=frozenset(a.lower() for a in section.notification_senders),
            zendesk_host=(urlsplit(zendesk_url).hostname or "").lower(),
        )
