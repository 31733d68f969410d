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


Outcome = Created | Commented | Skipped | Quarantined
