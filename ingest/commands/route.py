"""`bso-ingest route FILE...`: how each message would be routed, and why (JSON Lines).

One line per file: the portal fields read from the mail, the rule that
matched (null: the default), the conditions that decided it, every reason in
plain words, each portal value's Zendesk field with how it matched, the
Zendesk fields the ticket would get, and the sender authentication verdict
with the `[security]` policy it gets (what the mail may do: accept, tag,
no_thread, quarantine).
"""
from __future__ import annotations

import argparse
from typing import Any

from ingest.commands.jsonl import print_each
from ingest.trust import judge
from ingest.zendesk_meta import offline_account
from parsers import parse
from routing.account import Account
from routing.engine import route_with_decision


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("route", help="show the routing decision for .eml files, with its reasons, as JSON Lines")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def explain(source: str, raw: bytes, settings: Any, account: Account | None = None) -> dict[str, Any]:
    email = parse(raw)
    result, decision = route_with_decision(email, settings.routing, settings.zendesk.custom_fields, account)
    zendesk = result.model_dump(mode="json", exclude={"fields", "reasons", "rule", "field_reasons"})
    trust = judge(email, settings.security)
    if trust.tags:
        zendesk["tags"] = [*zendesk["tags"], *trust.tags]
    return {
        "source": source,
        "subject": email.subject,
        "fields": result.fields.model_dump(mode="json"),
        "rule": result.rule,
        "conditions": [{"key": c.key, "holds": c.holds, "why": c.sentence} for c in decision.checks],
        "reasons": result.reasons,
        # Each portal value → its Zendesk field and how it matched (exact / synonym / fuzzy 0.93 / no match).
        "field_mapping": result.field_reasons,
        "authentication": {
            "outcome": trust.verdict.outcome,
            "reason": trust.verdict.reason,
            "authserv_id": trust.verdict.authserv_id,
            "arc_sealer": trust.verdict.arc_sealer,
            "policy": trust.policy,
        },
        "zendesk": zendesk,
    }


def run(args: argparse.Namespace) -> int:
    # The field catalogue: the ledger's cached copy, else [zendesk] metadata_seed; no requests.
    account = offline_account(args.settings)
    return print_each(args.files, lambda source, raw: explain(source, raw, args.settings, account))
