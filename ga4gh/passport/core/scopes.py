"""SMART App Launch 2.0.0 scopes, section 3 "Scopes and Launch Context" (v1 and v2 syntax).

``<context>/<resource>.<permissions>`` where context is ``patient``, ``user`` or ``system``;
resource is a FHIR resource type or ``*``; permissions are v2 ``c r u d s`` in that order
(e.g. ``rs``, ``cruds``) or v1 ``read``, ``write``, ``*``. A v2 scope may carry a query
(``?category=...``) that narrows it; such narrowed scopes are honoured only for the exact
match of the query's parameters, which this server does not evaluate, so they grant nothing
(fail closed). The same grammar names GA4GH resource kinds (``htsget``, ``drs``, ``refget``,
``trust-center``) so one token can carry all of a client's permissions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXTS = ("patient", "user", "system")
ACTIONS = "cruds"
_SCOPE = re.compile(
    r"^(patient|user|system)/([A-Za-z][A-Za-z0-9-]*|\*)\.(read|write|\*|c?r?u?d?s?)(\?\S+)?$"
)
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class SmartScope:
    """One parsed clinical scope."""

    context: str
    resource: str
    actions: frozenset[str]
    query: str | None = None

    def allows(self, context: str | None, resource: str, action: str) -> bool:
        """True if this scope permits ``action`` on ``resource`` in ``context``."""
        if self.query is not None:
            return False
        if context is not None and self.context != context:
            return False
        return (self.resource in ("*", resource)) and action in self.actions


def parse_scope(scope: str) -> SmartScope | None:
    """The SMART scope, or None if the string is not a clinical scope (openid, offline_access)."""
    match = _SCOPE.match(scope)
    if not match or not match.group(3):
        return None
    context, resource, perms, query = match.groups()
    actions = frozenset(_V1.get(perms, perms))
    return SmartScope(context, resource, actions, query[1:] if query else None)


# Operational scopes other components define for machine clients (trust-center:pseudonyms,
# genomics:read:<dataset>, ...): granted and checked verbatim, never by pattern.
_OPERATIONAL = re.compile(r"^(trust-center|genomics|platform):[a-z][a-z-]*(:[A-Za-z0-9._-]+)?$")


def is_valid_scope(scope: str) -> bool:
    """True for SMART scopes, component scopes and the non-clinical scopes this broker knows."""
    return (parse_scope(scope) is not None or scope in NON_CLINICAL_SCOPES
            or _OPERATIONAL.match(scope) is not None)


NON_CLINICAL_SCOPES = frozenset(
    {"openid", "profile", "email", "offline_access", "online_access", "ga4gh_passport_v1",
     "fhirUser", "launch", "launch/patient", "admin"}
)


def allows(scopes: Iterable[str], resource: str, action: str, context: str | None = None) -> bool:
    """True if any scope permits ``action`` (one of c r u d s) on ``resource``."""
    if action not in ACTIONS or len(action) != 1:
        raise ValueError(f"unknown SMART action {action!r}")
    for raw in scopes:
        parsed = parse_scope(raw)
        if parsed and parsed.allows(context, resource, action):
            return True
    return False


def narrow(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The requested scopes that ``allowed`` covers (a v2 scope is covered action by action)."""
    allowed_list = list(allowed)
    parsed_allowed = [p for p in map(parse_scope, allowed_list) if p]
    out: list[str] = []
    for scope in requested:
        if scope in allowed_list:
            out.append(scope)
            continue
        parsed = parse_scope(scope)
        if parsed is None or parsed.query is not None:
            continue
        if all(
            any(a.allows(parsed.context, parsed.resource, act) and
                (a.resource == "*" or parsed.resource != "*") for a in parsed_allowed)
            for act in parsed.actions
        ):
            out.append(scope)
    return out
