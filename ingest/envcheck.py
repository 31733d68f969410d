"""Unknown `BSO_INGEST_*` variables are an error, not silently ignored.

pydantic-settings ignores an environment variable that maps to no field:
`BSO_INGEST_IMAP_HOST` (one underscore) or `BSO_INGEST_ZENDSK__URL` would
leave the default in place without a word.  `unknown_variables` walks the
Settings model and names every variable that reaches no setting, with the
closest real one (difflib), so `load_settings` can stop with exit 2.
"""
from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

# A field whose value is a mapping or a whole model may take deeper keys
# (BSO_INGEST_ZENDESK__CUSTOM_FIELDS__PRODUCT=360001).
_OPEN = object()


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_mapping(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return True
    return any(_is_mapping(arg) for arg in typing.get_args(annotation))


def _tree(model: type[BaseModel]) -> dict[str, Any]:
    """Field name -> subtree (a dict), _OPEN (a mapping: any key below) or None (a leaf)."""
    tree: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is not None:
            tree[name] = _tree(sub)
        elif _is_mapping(field.annotation):
            tree[name] = _OPEN
        else:
            tree[name] = None
    return tree


def _leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, sub in tree.items():
        if isinstance(sub, dict):
            yield from _leaves(sub, (*path, name))
        else:
            yield (*path, name)


def _resolves(tree: dict[str, Any], parts: list[str]) -> bool:
    node: Any = tree
    for i, part in enumerate(parts):
        if node is _OPEN:
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if node is None:
            return i == len(parts) - 1
    return True  # a whole section or mapping given as JSON


def unknown_variables(
    environ: Mapping[str, str],
    settings_cls: type[BaseModel],
    *,
    prefix: str,
    allowed: set[str],
    secrets: set[tuple[str, str]],
) -> list[str]:
    """One problem line per variable starting with `prefix` that sets nothing."""
    tree = _tree(settings_cls)
    names = [prefix + "__".join(leaf).upper() for leaf in _leaves(tree)]
    names += [f"{prefix}{section.upper()}__{key.upper()}_FILE" for section, key in sorted(secrets)]
    problems = []
    for var in sorted(environ):
        upper = var.upper()
        if not upper.startswith(prefix) or upper in allowed:
            continue
        rest = upper[len(prefix):].lower()
        parts = rest.split("__")
        if _resolves(tree, parts):
            continue
        if rest.endswith("_file") and len(parts) == 2 and (parts[0], parts[1][: -len("_file")]) in secrets:
            continue
        hint = difflib.get_close_matches(upper, names, n=1, cutoff=0.8)
        if hint:
            detail = f" (did you mean {hint[0]}?)"
        elif rest.endswith("_file"):
            detail = " (a _FILE variable is read only for secrets)"
        else:
            detail = ""
        problems.append(f"{var}: unknown environment variable: no setting reads it{detail}")
    return problems


def missing_secrets(settings: Any) -> list[str]:
    """Secrets the configured run needs and nobody set: named as missing, not left to look like a refusal."""
    missing = []
    if settings.service.source == "imap":
        imap = settings.imap
        if imap.auth_kind(imap.oauth_token is not None) == "password" and imap.password is None:
            missing.append("the IMAP password is missing: set BSO_INGEST_IMAP__PASSWORD or"
                           " BSO_INGEST_IMAP__PASSWORD_FILE (or configure [imap] auth for OAuth)")
    zendesk = settings.zendesk
    if not settings.service.dry_run and zendesk.api_token is None and zendesk.oauth_token is None:
        missing.append("the Zendesk API token is missing: set BSO_INGEST_ZENDESK__API_TOKEN or"
                       " BSO_INGEST_ZENDESK__API_TOKEN_FILE (or BSO_INGEST_ZENDESK__OAUTH_TOKEN)")
    return missing
