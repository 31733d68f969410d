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
from routing import sender_org, zendesk_fields
from routing.account import Account
from routing.conditions import CONDITIONS, Check, Facts
from routing.fieldmap import map_fields, unmatched_note, unmatched_text
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


def organization_of(
    fields: Fields, sender: str, mapping: dict[str, str], account: Account | None = None
) -> tuple[tuple[str, str], ...]:
    """Organization codes with where each came from: the one the mail names (its
    code, when the directory knows the name), then the sender domain's: the
    `[routing.organizations]` override, else Zendesk's organization directory."""
    candidates: list[tuple[str, str]] = []
    directory = account.directory if account is not None else None
    if fields.organization:
        named = directory.by_name_or_code(fields.organization) if directory else None
        if named is not None and named.code:
            candidates.append((named.code, f"named in the mail as {fields.organization!r}"))
        else:
            candidates.append((fields.organization, "named in the mail"))
    domain = sender.rpartition("@")[2].lower()
    # "mail.exemplo.com.br" falls back to "exemplo.com.br".
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        code = mapping.get(".".join(parts[i:]))
        if code:
            candidates.append((code, f"from sender domain {domain}"))
            return tuple(candidates)
    org = directory.by_domain(domain) if directory else None
    if org is not None and org.code:
        candidates.append((org.code, f"from sender domain {domain} (Zendesk organization {org.name!r}, id {org.id})"))
    return tuple(candidates)


def route(
    email: Email, cfg: RoutingSettings, field_ids: Mapping[str, int] | None = None, account: Account | None = None
) -> Route:
    """Where the ticket goes in Zendesk, and why.

    `field_ids` maps portal field names to Zendesk ticket field ids (the
    `[zendesk.custom_fields]` table).  `account` is the Zendesk account's field
    catalogue and organization directory; with it, values become what each
    field accepts (routing.fieldmap) and the ticket gets its form.
    """
    return route_with_decision(email, cfg, field_ids, account)[0]


def route_with_decision(
    email: Email, cfg: RoutingSettings, field_ids: Mapping[str, int] | None = None, account: Account | None = None
) -> tuple[Route, Decision]:
    # A stage before may have filled the fields; otherwise read them now.
    fields = email.fields if email.fields != Fields() else portal_fields.extract_fields(email)
    # The body's organization never overrides the sender's own (routing.sender_org).
    directory = account.directory if account is not None else None
    fields, by, org_claim = sender_org.restrict(fields, email.requester.email, cfg.organizations, directory)
    orgs = organization_of(by, email.requester.email, cfg.organizations, account)
    facts = Facts(
        sender=email.requester.email.lower(), subject=email.subject,
        body=portal_fields.ticket_text(email), fields=fields, organizations=orgs,
    )
    decision = decide(facts, cfg.rules)
    reasons = [f"rule {name!r} did not match: {check.sentence}" for name, check in decision.skipped]
    if org_claim:
        reasons.insert(0, org_claim)

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

    form_id: int | None = None
    unmatched: list[str] = []
    note: str | None = None
    field_reasons: list[str] = []
    if account is not None and account.catalog:
        mapping = map_fields(fields, rule.set.custom_fields if rule else {}, account.catalog, cfg.fields, field_ids)
        custom = mapping.custom_fields
        form_id = mapping.form_id
        reasons += mapping.reasons
        field_reasons = [line.sentence() for line in [*mapping.lines, *mapping.unmatched]]
        if mapping.unmatched:
            unmatched = [f"{ln.portal}: {ln.written} ({ln.reason})" for ln in mapping.unmatched]
            tags.append(cfg.fields.unmatched_tag)
            listed = unmatched_text(mapping.unmatched)
            reasons.append(f"values no field took, tagged {cfg.fields.unmatched_tag}: {listed}")
            if not mapping.listed_in_field:
                note = unmatched_note(mapping.unmatched)
    else:
        custom = zendesk_fields.custom_fields(fields, rule, field_ids or {})
        if field_ids:
            reasons.append("no Zendesk field catalogue: custom fields sent as written")

    ours = {a.lower() for a in cfg.support_addresses} | {email.requester.email.lower()}
    log.info("routed %s (%s): %s", email.key, email.message_id or "no Message-ID", "; ".join(reasons))
    return (
        Route(
            fields=fields, group_id=group_id, priority=priority, type=ticket_type,
            tags=list(dict.fromkeys(tags)),
            custom_fields=custom, ticket_form_id=form_id, unmatched=unmatched, unmatched_note=note,
            field_reasons=field_reasons,
            extra_ccs=[a for a in fields.cc_users if a not in ours],
            rule=rule.name if rule else None, reasons=reasons, missing_fields=missing,
        ),
        decision,
    )
