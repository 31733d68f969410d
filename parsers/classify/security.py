"""The `[security]` section: whose mail we trust, and what unverified mail may do.

The receiving MX has already judged the sender (SPF, DKIM, DMARC) and wrote
its verdict into `Authentication-Results`.  These settings say which of those
headers are ours to trust and what each outcome lets a mail do; the checks
are in `parsers.classify.authentication`, the decisions in `ingest.trust`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# What a mail with a given authentication outcome may do:
# - accept: as today;
# - tag: the ticket gets the outcome's tag and a private note for agents;
# - no_thread: never a comment into (or a follow-up of) an existing ticket,
#   whichever way it names it (subject number, In-Reply-To/References): a new
#   ticket instead;
# - quarantine: no ticket at all; ops decide (`bso-ingest quarantine`).
Action = Literal["accept", "tag", "no_thread", "quarantine"]
Outcome = Literal["pass", "fail", "none", "missing"]


class SecuritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # authserv-ids of our own MX (the first token of its Authentication-Results,
    # e.g. "mx.totvs.com.br").  Headers from any other id could have been
    # written by the sender and are ignored (RFC 8601 section 5).  Empty: the
    # check is off and every mail counts as "missing".
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    # The mailbox is in Microsoft 365 (Exchange Online), whose Authentication-Results
    # carry no authserv-id at all (not RFC 8601).  Then the topmost header without
    # one counts as our MX's: Exchange adds it above anything the sender wrote.
    trust_exchange_online: bool = False
    # ARC sealers (the d= of ARC-Seal) whose DMARC verdict we take over when our
    # MX says arc=pass and its own DMARC says fail or none: forwarders that
    # break DMARC by design (mailing lists, Google Groups, Microsoft 365
    # forwarding).  Empty: ARC is not used.
    trusted_arc_sealers: list[str] = Field(default_factory=list)
    on_dmarc_fail: list[Action] = Field(default_factory=lambda: ["no_thread", "tag"])
    # dmarc=none/temperror/permerror, or a trusted header without a DMARC result:
    # the domain publishes no usable policy.  Many small customers' domains
    # don't, so they are accepted by default.
    on_dmarc_none: list[Action] = Field(default_factory=lambda: ["accept"])
    # No Authentication-Results from a trusted authserv-id at all (logged once
    # per run: the check is effectively off).
    on_missing: list[Action] = Field(default_factory=lambda: ["accept"])
    # Tags for `tag`, by outcome.
    fail_tag: str = "dmarc_fail"
    none_tag: str = "dmarc_none"
    missing_tag: str = "dmarc_missing"
    # Mask valid CPF/CNPJ numbers in the subject, description and comments
    # before anything is sent to Zendesk (the mailbox keeps the original).
    mask_documents: bool = False
    # Addresses listed in the body's "Usuários em Cópia" become CCs only when
    # they share the requester's organization (or domain): "organization".
    # "any" CCs every listed address, as before.  Others are listed for agents.
    body_ccs: Literal["organization", "any"] = "organization"

    @field_validator("on_dmarc_fail", "on_dmarc_none", "on_missing")
    @classmethod
    def _coherent(cls, actions: list[Action]) -> list[Action]:
        chosen = list(dict.fromkeys(actions))
        if not chosen:
            raise ValueError('give at least one action (use ["accept"] to accept)')
        for alone in ("accept", "quarantine"):
            if alone in chosen and len(chosen) > 1:
                raise ValueError(f"{alone!r} cannot be combined with other actions (got {chosen})")
        return chosen

    @field_validator("trusted_authserv_ids", "trusted_arc_sealers")
    @classmethod
    def _lowercase(cls, ids: list[str]) -> list[str]:
        return [i.strip().lower() for i in ids if i.strip()]

    def actions(self, outcome: Outcome) -> frozenset[Action]:
        """The actions for an outcome; `pass` is always accepted."""
        table = {"fail": self.on_dmarc_fail, "none": self.on_dmarc_none, "missing": self.on_missing}
        return frozenset(a for a in table.get(outcome, []) if a != "accept")

    def tag_for(self, outcome: Outcome) -> str:
        return {"fail": self.fail_tag, "none": self.none_tag, "missing": self.missing_tag}.get(outcome, "")
