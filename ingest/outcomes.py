"""Every message ends in exactly one of these; one place (the pipeline) handles them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Created:
    ticket_id: int
    reason: str = ""
    kind: Literal["created"] = "created"


@dataclass(frozen=True)
class Commented:
    ticket_id: int
    reason: str = ""
    kind: Literal["commented"] = "commented"


@dataclass(frozen=True)
class Skipped:
    reason: str
    ticket_id: int | None = None
    kind: Literal["skipped"] = "skipped"


@dataclass(frozen=True)
class Quarantined:
    reason: str
    ticket_id: int | None = None
    kind: Literal["quarantined"] = "quarantined"


@dataclass(frozen=True)
class Deferred:
    """Not an end: a transient failure (Zendesk down, rate limit past the budget).

    The message stays in the inbox, unacknowledged, and is tried again later;
    after `service.max_attempts` tries it is Quarantined instead.
    `elsewhere`: not a failure at all; another process (or worker) holds the
    message's lease and finishes it (not counted as an attempt).
    """

    reason: str
    ticket_id: int | None = None
    kind: Literal["deferred"] = "deferred"
    elsewhere: bool = False


Final = Created | Commented | Skipped | Quarantined
Outcome = Final | Deferred
