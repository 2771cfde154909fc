"""Steps every FHIR write passes through before it is validated and stored.

FHIR R4 4.0.1 RESTful API (http.html) leaves it to the server what it does to a resource
before storing it; the clinical data node pseudonymizes (trust center issue). A step sees all
resources of one interaction at once (a whole transaction or batch), so it can keep references
between them consistent.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class WriteStep(Protocol):
    """Transforms incoming resources in place before validation and storage."""

    def apply(self, resources: list[dict[str, Any]]) -> None:
        """Change the resource dicts in place; raise a common.errors error to refuse them."""
        ...


@runtime_checkable
class CriteriaRewriter(Protocol):
    """Optional second face of a WriteStep whose changes affect matching.

    Conditional create/update/delete and conditional references search the stored data; a
    step that replaces values (the pseudonymizing step replaces Patient identifiers) rewrites
    their criteria the same way so that ``identifier=system|value`` still finds the resource.
    """

    def rewrite_criteria(
        self, res_type: str, criteria: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Return the criteria to match against stored resources."""
        ...
