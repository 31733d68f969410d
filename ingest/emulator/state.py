"""What the emulated Zendesk account holds: users, tickets, uploads and the
idempotency store.  Plain data, one lock; the HTTP layer lives in server.py."""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.emulator.account import AccountConfig

# Zendesk keeps an Idempotency-Key for two hours.
IDEMPOTENCY_TTL = 2 * 3600.0


def iso(at: float) -> str:
    """A timestamp as Zendesk shows it: UTC, to the second ("2026-03-02T09:00:00Z")."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


@dataclass
class User:
    id: int
    email: str
    name: str
    role: str = "end-user"
    organization_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role,
                "organization_id": self.organization_id}


@dataclass
class StoredFile:
    id: int
    file_name: str
    content_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "file_name": self.file_name, "content_type": self.content_type,
                "size": len(self.content), "content_url": f"/emulator/attachments/{self.id}"}


@dataclass
class Upload:
    token: str
    files: list[StoredFile] = field(default_factory=list)
    used: bool = False


@dataclass
class Comment:
    id: int
    author_id: int
    body: str
    public: bool
    attachments: list[StoredFile] = field(default_factory=list)
    # Who made the change (Zendesk's "current user" in triggers); differs from
    # author_id when an agent posts with comment.author_id.
    updater_id: int = 0
    via: str = "api"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "Comment", "author_id": self.author_id, "body": self.body,
                "public": self.public, "attachments": [a.as_json() for a in self.attachments],
                "metadata": {"updater_id": self.updater_id, "via": self.via}}


@dataclass
class Audit:
    """One update of a ticket (GET /api/v2/tickets/{id}/audits): its events and metadata.

    `custom` holds the `metadata` object the update sent (Zendesk keeps it in
    the audit's `metadata.custom`; agents never see it, customers neither)."""

    id: int
    ticket_id: int
    author_id: int
    created_at: float
    events: list[dict[str, Any]] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    via: dict[str, Any] = field(default_factory=lambda: {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}})

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "ticket_id": self.ticket_id, "author_id": self.author_id,
                "created_at": iso(self.created_at), "events": list(self.events), "via": self.via,
                "metadata": {"custom": dict(self.custom), "system": {"client": "bso-ingest emulator"}}}


@dataclass
class Ticket:
    id: int
    subject: str
    requester_id: int
    submitter_id: int
    status: str = "new"
    priority: str | None = None
    type: str | None = None
    group_id: int | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: list[dict[str, Any]] = field(default_factory=list)
    external_id: str | None = None
    recipient: str | None = None
    email_cc_ids: list[int] = field(default_factory=list)
    via_followup_source_id: int | None = None
    organization_id: int | None = None
    ticket_form_id: int | None = None
    comments: list[Comment] = field(default_factory=list)
    audits: list[Audit] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    # Changes with every update; `safe_update` compares it, as shown, to `updated_stamp`.
    updated_at: float = field(default_factory=time.time)
    # What the API agent may do here (a restricted brand or group): None (all),
    # "read" (GET works, updates are refused with 403) or "none" (403 on both).
    forbidden: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": f"/api/v2/tickets/{self.id}.json", "subject": self.subject,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "description": self.comments[0].body if self.comments else "", "status": self.status,
            "priority": self.priority, "type": self.type, "group_id": self.group_id,
            "requester_id": self.requester_id, "submitter_id": self.submitter_id, "tags": list(self.tags),
            "custom_fields": list(self.custom_fields), "external_id": self.external_id,
            "recipient": self.recipient, "email_cc_ids": list(self.email_cc_ids),
            "via": {"channel": "api", "source": {"rel": "follow_up" if self.via_followup_source_id else None}},
            "via_followup_source_id": self.via_followup_source_id,
            "organization_id": self.organization_id, "ticket_form_id": self.ticket_form_id,
        }


@dataclass
class IdempotentResult:
    fingerprint: str
    status: int
    body: dict[str, Any]
    stored_at: float


def fingerprint(body: Any) -> str:
    """Equal for the same JSON whatever its key order or spacing."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Store:
    """The account.  Callers hold `lock` while they read or change it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._ids = iter(range(1, 1 << 62))
            self.users: dict[int, User] = {}
            self.tickets: dict[int, Ticket] = {}
            self.uploads: dict[str, Upload] = {}
            self.idempotency: dict[str, IdempotentResult] = {}
            # Admin Center objects the settings refer to by id (`check` looks them up).
            self.groups: dict[int, dict[str, Any]] = {}
            # Configuration (fields, forms, organizations) outlives a reset of the data.
            self.account: AccountConfig = getattr(self, "account", None) or AccountConfig()
            # The API user itself (an admin): the "updater" of agent-made changes.
            self.agent = self.add_user("agent@emulator.invalid", "API agent", role="admin")

    def next_id(self) -> int:
        return next(self._ids)

    def add_user(self, email: str, name: str, role: str = "end-user") -> User:
        # Zendesk's user mapping puts a new user on an organization's domain into it.
        org = self.account.organization_for_email(email) if role == "end-user" else None
        user = User(self.next_id(), email.lower(), name or email.split("@")[0], role, org)
        self.users[user.id] = user
        return user

    def add_group(self, name: str) -> dict[str, Any]:
        group = {"id": self.next_id(), "name": name, "deleted": False}
        self.groups[group["id"]] = group
        return group

    @property
    def ticket_fields(self) -> dict[int, dict[str, Any]]:
        """The account's ticket fields (kept in `account` with the forms and organizations)."""
        return self.account.ticket_fields

    def add_ticket_field(self, title: str, type_: str = "text", *, active: bool = True) -> dict[str, Any]:
        field_ = {"id": self.next_id(), "title": title, "type": type_, "active": active}
        self.ticket_fields[field_["id"]] = field_
        return field_

    def user_by_email(self, email: str) -> User | None:
        email = email.lower()
        return next((u for u in self.users.values() if u.email == email), None)

    def user_for(self, email: str, name: str = "") -> User:
        """The user with this address, created (with `name`) when unknown, as Zendesk does."""
        return self.user_by_email(email) or self.add_user(email, name)

    def add_upload_file(self, token: str | None, file_name: str, content_type: str, content: bytes) -> Upload:
        upload = self.uploads.get(token) if token else None
        if upload is None:
            upload = Upload(token=secrets.token_hex(12))
            self.uploads[upload.token] = upload
        upload.files.append(StoredFile(self.next_id(), file_name, content_type, content))
        return upload

    def claim_uploads(self, tokens: list[str]) -> tuple[list[StoredFile], list[str]]:
        """Files of these tokens, and the tokens that are unknown or used already."""
        bad = [t for t in tokens if t not in self.uploads or self.uploads[t].used]
        if bad:
            return [], bad
        files: list[StoredFile] = []
        for t in tokens:
            self.uploads[t].used = True
            files += self.uploads[t].files
        return files, []

    def idempotent(self, key: str) -> IdempotentResult | None:
        result = self.idempotency.get(key)
        if result and self.clock() - result.stored_at > IDEMPOTENCY_TTL:
            del self.idempotency[key]
            return None
        return result

    def expire_idempotency_keys(self) -> None:
        """As if two hours had passed: every stored key is forgotten."""
        with self.lock:
            self.idempotency.clear()
