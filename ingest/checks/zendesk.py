"""Checks of Zendesk: credentials accepted, the API user's role, and every id the settings name."""
from __future__ import annotations

from collections.abc import Iterator

from ingest.checks import Context, Result, Skip, fail, ok
from ingest.errors import ZendeskAuthError, ZendeskError

# A check should answer in seconds, not spend the service's 5-minute retry budget.
CHECK_RETRY_BUDGET = 10.0
TOKEN_FIX = "set BSO_INGEST_ZENDESK__API_TOKEN or BSO_INGEST_ZENDESK__API_TOKEN_FILE (or zendesk.oauth_token)"
AGENT_ROLES = ("admin", "agent")


def check_auth(ctx: Context) -> Result:
    """GET /api/v2/users/me with the configured credentials."""
    from ingest.zendesk import ZendeskClient

    zs = ctx.settings.zendesk
    if zs.oauth_token is None and zs.api_token is None:
        if ctx.settings.service.dry_run:
            raise Skip("service.dry_run is on and no Zendesk credentials are set: Zendesk is not used")
        return fail("zendesk.auth", "the Zendesk API token is missing: neither zendesk.api_token nor"
                    " zendesk.oauth_token is set", TOKEN_FIX)
    if zs.oauth_token is None and not zs.email:
        return fail("zendesk.auth", "zendesk.email is empty (API token auth is {email}/token:{api_token})",
                    "set zendesk.email to the agent's address the token belongs to")
    quick = zs.model_copy(update={"retry_budget_seconds": min(CHECK_RETRY_BUDGET, zs.retry_budget_seconds)})
    client = ZendeskClient.from_settings(quick)
    try:
        answer = client.request("GET", "/api/v2/users/me.json", client.budget("GET /api/v2/users/me"))
    except ZendeskAuthError as exc:
        client.session.close()
        return fail("zendesk.auth", f"{zs.url} refused the credentials: HTTP {exc.status}",
                    "check zendesk.email and the token (BSO_INGEST_ZENDESK__API_TOKEN[_FILE]); in Admin Center >"
                    " Apps and integrations > Zendesk API, token access must be enabled")
    except ZendeskError as exc:
        client.session.close()
        return fail("zendesk.auth", f"{zs.url} did not answer: {exc}", "check zendesk.url and the network")
    user = (answer or {}).get("user") or {}
    if not user.get("id"):
        client.session.close()
        return fail("zendesk.auth", f"{zs.url} answered as an anonymous user: the credentials were not used",
                    "check zendesk.email and the token")
    ctx.set_zendesk(client)
    ctx.memo["zendesk.me"] = user
    how = "OAuth" if client.uses_oauth else "API token"
    return ok("zendesk.auth", f"{zs.url}: authenticated as {user.get('email')} ({how})")


def check_role(ctx: Context) -> Result:
    ctx.zendesk()
    user = ctx.memo["zendesk.me"]
    role = str(user.get("role"))
    if role in AGENT_ROLES:
        return ok("zendesk.role", f"the API user is an {role}")
    return fail("zendesk.role", f"the API user {user.get('email')} is an {role}: it cannot create tickets in"
                " customers' names", "use the token of an agent or admin")


def check_groups(ctx: Context) -> Iterator[Result]:
    """Every group id in [routing] exists."""
    client = ctx.zendesk()
    routing = ctx.settings.routing
    wanted: dict[int, list[str]] = {}
    if routing.default_group_id is not None:
        wanted.setdefault(routing.default_group_id, []).append("routing.default_group_id")
    for rule in routing.rules:
        if rule.set.group_id is not None:
            wanted.setdefault(rule.set.group_id, []).append(f"rule {rule.name!r}")
    if not wanted:
        yield ok("zendesk.groups", "no group ids configured (Zendesk's default group applies)")
        return
    for group_id, users in sorted(wanted.items()):
        found = client.request("GET", f"/api/v2/groups/{group_id}.json", client.budget("GET /api/v2/groups"))
        where = ", ".join(users)
        if found is None:
            yield fail("zendesk.groups", f"group {group_id} ({where}) does not exist",
                       "set an existing group id (Admin Center > People > Team > Groups)")
        else:
            yield ok("zendesk.groups", f"group {group_id} {found.get('group', {}).get('name', '')!r} exists ({where})")


def check_custom_fields(ctx: Context) -> Iterator[Result]:
    """Every [zendesk.custom_fields] id is an active ticket field."""
    client = ctx.zendesk()
    fields = ctx.settings.zendesk.custom_fields
    if not fields:
        yield ok("zendesk.custom_fields", "no custom fields configured")
        return
    for name, field_id in sorted(fields.items()):
        found = client.request("GET", f"/api/v2/ticket_fields/{field_id}.json",
                               client.budget("GET /api/v2/ticket_fields"))
        field = (found or {}).get("ticket_field")
        if field is None:
            yield fail("zendesk.custom_fields", f"{name} = {field_id}: no such ticket field",
                       "set the id from Admin Center > Objects and rules > Tickets > Fields")
        elif field.get("active") is False:
            yield fail("zendesk.custom_fields", f"{name} = {field_id} ({field.get('title')!r}) is inactive",
                       "activate the field, or remove it from [zendesk.custom_fields]")
        else:
            yield ok("zendesk.custom_fields", f"{name} = {field_id} ({field.get('title')!r})")


CHECKS = [check_auth, check_role, check_groups, check_custom_fields]
