"""Validation of incoming resources against FHIR R4 4.0.1 structure (via fhir.resources R4B).

Checks: a JSON object, a known and supported ``resourceType``, a valid ``id``, and the R4B
model (datatypes, cardinality, unknown elements, choice types). Errors become OperationOutcome
issues whose ``expression`` is a FHIRPath path to the offending element (operationoutcome.html
"expression").
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from fhir_server.core.errors import InvalidRequest, InvalidResource, Issue
from fhir_server.core.types import NOT_STORED, R4_RESOURCE_TYPES, is_valid_id, supported_types

MAX_ISSUES = 50


def check_resource_type(resource: Any, expected: str | None = None) -> str:
    """Return the resource type of a JSON object that claims to be a resource, or raise 400."""
    if not isinstance(resource, dict):
        raise InvalidRequest("the body must be a JSON object (a FHIR resource)", code="structure")
    res_type = resource.get("resourceType")
    if not isinstance(res_type, str) or not res_type:
        raise InvalidResource(
            "resource has no resourceType",
            issues=[Issue("error", "required", "resource has no resourceType", ("resourceType",))],
        )
    if res_type not in R4_RESOURCE_TYPES:
        raise InvalidRequest(f"unknown resource type {res_type!r}", code="not-supported")
    if expected is not None and res_type != expected:
        raise InvalidResource(
            f"resourceType {res_type} does not match the URL ({expected})",
            issues=[
                Issue(
                    "error",
                    "invalid",
                    f"resourceType {res_type} does not match the URL ({expected})",
                    ("resourceType",),
                )
            ],
        )
    if res_type in NOT_STORED or res_type not in supported_types():
        raise InvalidRequest(
            f"resource type {res_type} is not supported by this server", code="not-supported"
        )
    return res_type


def check_id(resource: dict[str, Any]) -> None:
    """Refuse a resource whose id is present but not a valid FHIR id."""
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not is_valid_id(rid)):
        raise InvalidResource(
            "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
            issues=[
                Issue(
                    "error",
                    "value",
                    "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
                    (f"{resource['resourceType']}.id",),
                )
            ],
        )


def _expression(res_type: str, loc: tuple[int | str, ...]) -> str:
    path = res_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("function-") or part in ("__root__",):
            continue
        else:
            path += "." + part
    return path


def validate(resource: dict[str, Any]) -> None:
    """Validate a resource dict against its R4B model; raise InvalidResource with expressions."""
    from fhir.resources.R4B import get_fhir_model_class

    res_type = check_resource_type(resource)
    check_id(resource)
    model = get_fhir_model_class(res_type)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = []
        for err in exc.errors()[:MAX_ISSUES]:
            loc = tuple(p for p in err.get("loc", ()) if not isinstance(p, str) or p != res_type)
            expr = _expression(res_type, loc)
            msg = err.get("msg", "invalid")
            issues.append(Issue("error", "structure", f"{expr}: {msg}", (expr,)))
        raise InvalidResource(
            f"{res_type} failed validation: {issues[0].diagnostics}", issues=issues
        ) from None
    except (TypeError, ValueError) as exc:  # malformed content that pydantic cannot wrap
        raise InvalidResource(f"{res_type} failed validation: {exc}") from None
