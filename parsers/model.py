"""The validated e-mail model: the only shape of a message after parsing.

Everything downstream (classify, route, sink, ledger) reads this model and
never touches `email.message` objects, MIME or charsets again.  The JSON field
names are the contract of `bso-ingest parse`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Automated = Literal["auto_reply", "bounce", "feedback_report", "own_mail", "loop"]
Impact = Literal["question", "workaround", "non_critical", "critical"]


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = ""
    email: str


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    content_id: str | None = None
    # The decoded bytes travel with the model so the sink can upload them, but
    # they are never part of the JSON contract.
    content: bytes = Field(default=b"", exclude=True, repr=False)


class Fields(BaseModel):
    """The support portal's form fields, as the customer wrote them (issue 5)."""

    model_config = ConfigDict(frozen=True)

    organization: str | None = None
    impact: Impact | None = None
    request_type: str | None = None
    environment: str | None = None
    version: str | None = None
    country: str | None = None
    macrosegment: str | None = None
    product: str | None = None
    module: str | None = None
    routine_group: str | None = None
    bso: bool | None = None
    # Addresses listed under "Usuários em Cópia"; they join the ticket's CCs.
    cc_users: list[str] = Field(default_factory=list)


class Email(BaseModel):
    """One parsed message.  Frozen: later stages derive copies with model_copy."""

    model_config = ConfigDict(frozen=True)

    # Identity.  `key` is the dedupe key used by the ledger, Zendesk's
    # external_id and the Idempotency-Key: Message-ID plus a hash of the
    # content, so a reused Message-ID with different content is a different
    # message, while the same mail delivered twice keeps one key.
    key: str
    message_id: str | None = None
    date: datetime | None = None

    requester: Address
    reply_to: list[Address] = Field(default_factory=list)
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)

    body_text: str = ""
    body_html: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    defects: list[str] = Field(default_factory=list)

    # Top-level MIME type and, for multipart/report, its report-type; the
    # classifiers need them and must not re-read MIME.
    mime_type: str = "text/plain"
    report_type: str | None = None
    # Decoded header values by lowercased name, in message order.  X-BSO-*
    # control headers from outside are stripped before anything reads them.
    headers: dict[str, list[str]] = Field(default_factory=dict, exclude=True, repr=False)

    # Filled by later stages (parse leaves the defaults).
    fields: Fields = Field(default_factory=Fields)
    automated: Automated | None = None
    automated_reason: str | None = None

    def header(self, name: str) -> str | None:
        """First value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def sender_domain(self) -> str:
        return self.requester.email.rpartition("@")[2].lower()


class ParseError(ValueError):
    """The bytes cannot become an Email; the message says which and why."""
