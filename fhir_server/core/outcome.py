"""OperationOutcome documents (FHIR R4 4.0.1 operationoutcome.html) as plain dicts."""

from __future__ import annotations

from typing import Any

from fhir_server.core.errors import Issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource with the given issues."""
    out = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = list(issue.expression)
        out.append(entry)
    return {"resourceType": "OperationOutcome", "issue": out}


def information(message: str) -> dict[str, Any]:
    """An OperationOutcome with one informational issue (Prefer: return=OperationOutcome)."""
    return operation_outcome([Issue("information", "informational", message)])
