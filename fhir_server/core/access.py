"""Port through which an access policy narrows what a FHIR caller may see.

FHIR R4 4.0.1 security.html leaves authorization to the server; this module is the FHIR side
of it. The FHIR core and its search never import a particular policy: the composition
(``config/wiring``) provides a :class:`FhirAccessPolicy` on the app context, and the FHIR
handlers ask it

* to authorize one interaction (:meth:`FhirAccessPolicy.authorize`; with the resource for
  instance reads, where a refusal is a 404 so that existence does not leak), and
* for a :class:`ReadFilter` for reads of many resources (search, ``_include``,
  ``_revinclude``, ``$everything``, history). The filter has two parts: a dataset restriction
  the SQL search applies inside the query (so keyset paging and totals stay exact for it,
  and chained parameters, ``_has`` and ``_list`` cannot reach resources outside it), and a
  per-resource decision (``admit``, batched per page) that is authoritative: the searcher
  drops every resource it refuses and fetches further to fill the page. Chained parameters
  and ``_has`` follow only the links the filter allows (``may_link``; others are 403).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol


class ReadFilter(Protocol):
    """What one restricted caller may see during one request."""

    @property
    def tag_system(self) -> str:
        """System of the ``meta.tag`` that names a resource's dataset."""
        ...

    @property
    def datasets(self) -> frozenset[str]:
        """Dataset codes (``meta.tag`` codes of ``tag_system``) the caller may see."""
        ...

    def type_allowed(self, res_type: str) -> bool:
        """May the caller read resources of this type at all (its scopes)?"""
        ...

    def admit(self, resources: Sequence[Mapping[str, Any]]) -> list[bool]:
        """The final decision per resource (dataset, scope, the patient's consent)."""
        ...

    def may_link(self, res_type: str, code: str) -> bool:
        """May a chained parameter or ``_has`` follow the reference parameter ``code`` of
        ``res_type``? A link matches on values of the resource it reaches, which ``admit``
        never judges: only links that stay within one patient's data are safe."""
        ...

    def finish(self, returned: int) -> None:
        """The request is answered: record the decision (one audit entry per request)."""
        ...


class FhirAccessPolicy(Protocol):
    """Decides FHIR interactions of an authenticated caller (installed by the wiring)."""

    def authorize(self, principal: Any, res_type: str, action: str,
                  resource: Mapping[str, Any] | None = None) -> None:
        """Raise Forbidden/NotFound unless the interaction is allowed."""
        ...

    def read_filter(self, principal: Any, res_type: str, action: str) -> ReadFilter | None:
        """A filter for reads of many resources; None when the caller is not restricted
        beyond its scopes (the decision for the type is then made and recorded here)."""
        ...


def refused_link(restriction: ReadFilter, clauses: Iterable[Any]) -> str | None:
    """The first chained parameter or ``_has`` of parsed search ``clauses`` (see
    ``fhir_server.core.search.params.Clause``) that follows a link ``restriction`` does not
    allow, as ``Type.code``; None if every link is allowed."""
    for clause in clauses:
        if clause.chain is not None:
            if not restriction.may_link(clause.res_type, clause.code):
                return f"{clause.res_type}.{clause.code}"
            found = refused_link(restriction, clause.chain.inner)
            if found is not None:
                return found
        if clause.has is not None:
            source, ref = clause.has.source_type, clause.has.reference.code
            if not restriction.may_link(source, ref):
                return f"{source}.{ref}"
            found = refused_link(restriction, [clause.has.inner])
            if found is not None:
                return found
    return None
