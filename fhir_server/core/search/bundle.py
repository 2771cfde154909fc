"""Searchset Bundles and the result-shaping parameters ``_summary`` and ``_elements``.

FHIR R4 4.0.1 search.html sections 3.1.1.2 (searchset Bundle, ``search.mode`` match /
include / outcome), 3.1.1.5.8 (``_summary``), 3.1.1.5.9 (``_elements``), http.html#paging
(self/next/previous links) and bundle.html (Bundle.total only when known).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fhir_server.core.search.fhirpath import _CHOICE_SUFFIX
from fhir_server.core.search.registry import Registry

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@dataclass(frozen=True)
class BundleEntry:
    """One entry of a searchset: the resource JSON and its search mode."""

    resource: dict[str, Any]
    mode: str  # match | include | outcome


def _element_name(key: str, names: frozenset[str]) -> str | None:
    base = key[1:] if key.startswith("_") else key  # _birthDate carries birthDate's extensions
    if base in names:
        return base
    for i in range(1, len(base)):
        if base[i].isupper() and base[:i] in names and base[i:] in _CHOICE_SUFFIX:
            return base[:i]
    return None


def shape(resource: dict[str, Any], registry: Registry, summary: str | None,
          elements: Sequence[str] | None) -> dict[str, Any]:
    """Apply ``_summary`` / ``_elements`` to one resource (marked SUBSETTED when reduced)."""
    if summary in (None, "false") and not elements:
        return resource
    res_type = resource.get("resourceType", "")
    mandatory = registry.mandatory_elements.get(res_type, frozenset())
    if summary == "true":
        keep = registry.summary_elements.get(res_type, frozenset()) | _ALWAYS
    elif summary == "text":
        keep = _ALWAYS | mandatory | {"text"}
    elif summary == "data":
        keep = frozenset(k for k in resource if k != "text") | _ALWAYS
        keep = frozenset(_element_name(k, keep) or k for k in keep)
    elif elements:
        keep = frozenset(elements) | _ALWAYS | mandatory
    else:
        return resource
    out = {k: v for k, v in resource.items() if _element_name(k, keep) is not None
           or k in keep}
    if len(out) != len(resource):
        meta = dict(out.get("meta") or {})
        tags = list(meta.get("tag") or [])
        if not any(t.get("code") == "SUBSETTED" for t in tags if isinstance(t, dict)):
            tags.append(dict(SUBSETTED))
        meta["tag"] = tags
        out["meta"] = meta
    return out


def searchset(base_url: str, path: str, entries: Iterable[BundleEntry], *,
              applied: Sequence[tuple[str, str]], total: int | None,
              next_cursor: str | None, prev_cursor: str | None,
              timestamp: str) -> dict[str, Any]:
    """A searchset Bundle with self/next/previous links built from the applied parameters."""
    query = urlencode(list(applied))
    self_url = f"{base_url}{path}" + (f"?{query}" if query else "")
    links = [{"relation": "self", "url": self_url}]
    for relation, cursor in (("next", next_cursor), ("previous", prev_cursor)):
        if cursor:
            params = [*applied, ("_cursor", cursor)]
            links.append({"relation": relation, "url": f"{base_url}{path}?{urlencode(params)}"})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timestamp,
    }
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    out_entries = []
    for e in entries:
        entry: dict[str, Any] = {}
        rtype, rid = e.resource.get("resourceType"), e.resource.get("id")
        if e.mode != "outcome" and rtype and rid:
            entry["fullUrl"] = f"{base_url}/{rtype}/{rid}"
        entry["resource"] = e.resource
        entry["search"] = {"mode": e.mode}
        out_entries.append(entry)
    if out_entries:
        bundle["entry"] = out_entries
    return bundle


def ignored_outcome(ignored: Sequence[str]) -> dict[str, Any]:
    """The OperationOutcome a lenient search adds for parameters it did not apply."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "warning", "code": "not-supported",
            "diagnostics": f"Search parameter {name!r} is unknown or unsupported and was ignored",
            "expression": [name],
        } for name in ignored],
    }
