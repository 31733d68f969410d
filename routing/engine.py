"""Rules → Route: first matching rule wins, else the default (issue 5).

The engine is deliberately short: build the facts, walk the rule table in
order, then map the outcome to Zendesk fields.  Every decision is recorded as
a sentence in `Route.reasons`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from parsers import fields as portal_fields
from parsers.model import Email, Fields
from routing import zendesk_fields
from routing.conditions import CONDITIONS, Check, Facts
from routing.config import RoutingSettings, Rule
from routing.model import Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """The rule that matched (None: the default) and the checks that decided it."""

    rule: Rule | None
    checks: list[Check]
    # For each rule tried before: its name and the first condition that failed.
    skipped: list[tuple[str, Check]]


def decide(facts: Facts, rules: list[Rule]) -> Decision:
    skipped: list[tuple[str, Check]] = []
    for rule in rules:
        checks: list[Check] = []
        for key, wanted in rule.when.items():
            check = CONDITIONS[key].check(facts, wanted)
            checks.append(check)
            if not check.holds:
                skipped.append((rule.name, check))
                break
        else:
            return Decision(rule, checks, skipped)
    return Decision(None, [], skipped)


def organization_of(fields: Fields, sender: str, mapping: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The organization the mail names, then the code mapped from the sender domain."""
    candidates: list[tuple[str, str]] = []
    if fields.organization:
        candidates.append((fields.organization, "named in the mail"))
    domain = sender.rpartition("@")[2].lower()
    # "mail.exemplo.com.br" falls back to "exemplo.com.br".
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        code = mapping.get(".".join(parts[i:]))
        if code:
            candidates.append((code, f"from sender domain {domain}"))
            break
    return tuple(candidates)


def route(email: Email, cfg: RoutingSettings, field_ids: Mapping[str, int] | None = None) -> Route:
    """Where the ticket goes in Zendesk, and why.

    `field_ids` maps portal field names to Zendesk ticket field ids (the
    `[zendesk.custom_fields]` table).
    """
    return route_with_decision(email, cfg, field_ids)[0]


def route_with_decision(
    email: Email, cfg: RoutingSettings, field_ids: Mapping[str, int] | None = None
) -> tuple[Route, Decision]:
    # A stage before may have filled the fields; otherwise read them now.
    fields = email.fields if email.fields != Fields() else portal_fields.extract_fields(email)
    orgs = organization_of(fields, email.requester.email, cfg.organizations)
    facts = Facts(
        sender=email.requester.email.lower(), subject=email.subject,
        body=portal_fields.ticket_text(email), fields=fields, organizations=orgs,
    )
    decision = decide(facts, cfg.rules)
    reasons = [f"rule {name!r} did not match: {check.sentence}" for name, check in decision.skipped]

    if not fields.organization and orgs:
        fields = fields.model_copy(update={"organization": orgs[0][0]})
        reasons.append(f"organization {orgs[0][0]!r} {orgs[0][1]} (the mail names none)")

    rule = decision.rule
    tags: list[str] = []
    if rule is None:
        group_id = cfg.default_group_id
        reasons.append("no rule matched; " + (f"default group {group_id}" if group_id else "no default group set"))
    else:
        said = "; ".join(c.sentence for c in decision.checks) or "it has no conditions"
        reasons.append(f"rule {rule.name!r} matched: {said}")
        group_id = rule.set.group_id if rule.set.group_id is not None else cfg.default_group_id
        if rule.set.group_id is None:
            reasons.append(f"rule {rule.name!r} sets no group; default group {group_id}")
        tags += [*rule.set.tags, rule.tag]

    priority, why = zendesk_fields.priority(fields, rule, cfg)
    reasons.append(why)
    ticket_type, why_type = zendesk_fields.ticket_type(fields, rule)
    if why_type:
        reasons.append(why_type)

    missing = zendesk_fields.missing(fields, cfg.required_fields)
    if missing:
        tags.append(cfg.incomplete_tag)
        reasons.append(f"required fields missing: {', '.join(missing)}; tagged {cfg.incomplete_tag}")

    ours = {a.lower() for a in cfg.support_addresses} | {email.requester.email.lower()}
    log.info("routed %s (%s): %s", email.key, email.message_id or "no Message-ID", "; ".join(reasons))
    return (
        Route(
            fields=fields, group_id=group_id, priority=priority, type=ticket_type,
            tags=list(dict.fromkeys(tags)),
            custom_fields=zendesk_fields.custom_fields(fields, rule, field_ids or {}),
            extra_ccs=[a for a in fields.cc_users if a not in ours],
            rule=rule.name if rule else None, reasons=reasons, missing_fields=missing,
        ),
        decision,
    )
