"""The server's CapabilityStatement (FHIR R4 4.0.1 capabilitystatement.html), generated from
what the server really supports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fhir_server.core.model import instant, now_us

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")


def capability_statement(
    base_url: str,
    types: Iterable[str],
    *,
    software_version: str,
    search_params: Mapping[str, list[dict[str, Any]]] | None = None,
    search_supported: bool = False,
) -> dict[str, Any]:
    """A CapabilityStatement (kind instance) for this deployment."""
    resources = []
    for res_type in sorted(types):
        interactions = list(TYPE_INTERACTIONS)
        if search_supported:
            interactions.append("search-type")
        entry: dict[str, Any] = {
            "type": res_type,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal", "logical"],
        }
        if search_params and search_params.get(res_type):
            entry["searchParam"] = search_params[res_type]
        resources.append(entry)
    system = [{"code": code} for code in SYSTEM_INTERACTIONS]
    if search_supported:
        system.append({"code": "search-system"})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now_us())[:10],
        "publisher": "genomseq",
        "kind": "instance",
        "software": {"name": "genomseq", "version": software_version},
        "implementation": {"description": "genomseq FHIR R4 clinical data node", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": system,
            }
        ],
    }
