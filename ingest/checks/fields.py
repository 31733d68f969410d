"""Checks of the portal field mapping against the account: the form, each mapped
field (found or missing, its type, how many options) and the organization directory.

Reads `GET /api/v2/ticket_fields`, `/ticket_forms` and `/organizations` once
(ingest.zendesk_meta.fetch_account), as the service does at start.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingest.checks import Context, Result, Skip, fail, ok
from ingest.errors import ZendeskError
from routing.account import Account
from routing.catalog import OPTION_TYPES

FIELD_FIX = ("set [routing.fields.map] {name} to the title or id of a ticket field"
             " (Admin Center > Objects and rules > Tickets > Fields)")


def _account(ctx: Context) -> Account:
    if "fields.account" not in ctx.memo:
        from ingest.zendesk_meta import fetch_account

        client = ctx.zendesk()
        try:
            data: dict[str, Any] = fetch_account(client)
        except ZendeskError as exc:
            ctx.memo["fields.account"] = exc
        else:
            ctx.memo["fields.account"] = Account.from_api(data, ctx.settings.routing.directory.code_from)
    found = ctx.memo["fields.account"]
    if isinstance(found, Exception):
        raise Skip(f"the ticket fields could not be read: {found}")
    return found


def check_form(ctx: Context) -> Result:
    cfg = ctx.settings.routing.fields
    client = ctx.zendesk()
    try:
        account = _account(ctx)
    except Skip as skip:
        return fail("zendesk.form", str(skip), f"check that {client.base_url} answers GET /api/v2/ticket_fields")
    if cfg.form in ("", None):
        return ok("zendesk.form", "no ticket form configured ([routing.fields] form = \"\")")
    form = account.catalog.form(cfg.form)
    if form is None:
        names = ", ".join(repr(f.name) for f in account.catalog.forms) or "none"
        return fail("zendesk.form", f"no ticket form {cfg.form!r} (forms: {names})",
                    "set [routing.fields] form to a form's name or id, or \"\" for none")
    if not form.active:
        return fail("zendesk.form", f"ticket form {form.name!r} (id {form.id}) is inactive",
                    "activate it in Admin Center > Objects and rules > Tickets > Forms")
    conditions = form.conditions(cfg.conditions)
    return ok("zendesk.form", f"{form.name!r} (id {form.id}): {len(form.field_ids)} fields, "
                              f"{len(conditions)} {cfg.conditions} conditions")


def check_mapped_fields(ctx: Context) -> Iterator[Result]:
    cfg = ctx.settings.routing.fields
    account = _account(ctx)
    form = account.catalog.form(cfg.form) if cfg.form not in ("", None) else None
    refs: list[tuple[str, int | str, bool]] = [(name, ref, False) for name in cfg.map for ref in cfg.targets(name)]
    # [zendesk.custom_fields] names fields by id, sent whatever the form.
    refs += [(name, fid, True) for name, fid in ctx.settings.zendesk.custom_fields.items()
             if (name, fid, False) not in refs]
    if not refs:
        yield ok("zendesk.fields", "no portal fields mapped")
        return
    for name, ref, by_id in refs:
        field = account.catalog.field(ref, form.field_ids if form else ())
        if field is None:
            yield fail("zendesk.fields", f"{name} → {ref!r}: missing (no such ticket field)",
                       FIELD_FIX.format(name=name))
            continue
        what = f"{name} → {field.title!r} (id {field.id}, {field.type}"
        what += f", {len(field.options)} options)" if field.type in OPTION_TYPES else ")"
        if not field.active:
            yield fail("zendesk.fields", f"{what}: inactive", "activate the field, or map another one")
        elif form is not None and field.id not in form.field_ids and not by_id:
            yield fail("zendesk.fields", f"{what}: not on form {form.name!r}, so never sent",
                       f"add the field to the form, or remove it from [routing.fields.map] {name}")
        elif field.type in OPTION_TYPES and not field.options:
            yield fail("zendesk.fields", f"{what}: a drop-down without options", "add its options in Zendesk")
        else:
            yield ok("zendesk.fields", f"{what}: found")


def check_organizations(ctx: Context) -> Result:
    directory = _account(ctx).directory
    code_from = ctx.settings.routing.directory.code_from
    coded = [o for o in directory.organizations if o.code]
    domains = sum(len(o.domains) for o in directory.organizations)
    detail = (f"{len(directory.organizations)} organizations, {len(coded)} with a code ({code_from}), "
              f"{domains} domain names")
    if directory.organizations and not coded:
        return fail("zendesk.organizations", detail,
                    "set [routing.directory] code_from to the organization field holding the code, or external_id")
    return ok("zendesk.organizations", detail)


CHECKS = [check_form, check_mapped_fields, check_organizations]
