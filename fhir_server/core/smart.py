"""SMART App Launch 2.0.0 scopes for FHIR resources (scopes-and-launch-context.html), v1
(``.read``/``.write``/``.*``) and v2 (``.cruds`` subsets) syntax.

``system/`` and ``user/`` scopes grant by resource type. ``patient/`` scopes need a launch
patient compartment filter and scopes with ``?`` constraints need per-resource checks; both are
honoured only where the caller checks them explicitly, never as a blanket type grant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SCOPE = re.compile(
    r"^(?P<ctx>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\."
    r"(?P<perm>read|write|\*|c?r?u?d?s?)(?P<query>\?.*)?$"
)
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


def granted(
    scopes: Iterable[str],
    res_type: str,
    action: str,
    contexts: tuple[str, ...] = ("system", "user"),
) -> bool:
    """True if a scope of one of the contexts grants ``action`` (one of c r u d s) on the type."""
    for scope in scopes:
        m = _SCOPE.match(scope)
        if not m or m["query"] or m["ctx"] not in contexts:
            continue
        if m["type"] not in ("*", res_type):
            continue
        perms = _V1.get(m["perm"], m["perm"])
        if action in perms:
            return True
    return False
