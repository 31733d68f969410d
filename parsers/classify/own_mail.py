"""Our own mail: the support address itself or Zendesk's notifications.

Only our own Zendesk counts: other companies' Zendesk mail also carries
X-Zendesk-* headers, and a customer's help desk may well write to us.
"""
from __future__ import annotations

from parsers.classify.config import ClassifyConfig
from parsers.model import Email


def check(email: Email, config: ClassifyConfig) -> str | None:
    """Reason when the message comes from us or our Zendesk, else None."""
    sender = email.requester.email.lower()
    ours = config.support_addresses
    if sender in ours:
        return f"sender {sender} is our support address"
    if sender in config.notification_senders:
        return f"sender {sender} is a notification sender"
    zendesk_host = config.zendesk_host
    if zendesk_host and (email.sender_domain == zendesk_host or email.sender_domain.endswith("." + zendesk_host)):
        return f"sender {sender} is our Zendesk ({zendesk_host})"
    # Zendesk notifications sent through our own address: Reply-To is the
    # support address and Zendesk stamps its account headers.
    zendesk_headers = any(name.startswith("x-zendesk-") for name in email.headers)
    if zendesk_headers and any(r.email.lower() in ours for r in email.reply_to):
        return f"Zendesk notification (X-Zendesk-* headers, Reply-To {email.reply_to[0].email})"
    return None
