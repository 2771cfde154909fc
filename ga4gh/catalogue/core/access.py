"""The default answer to "may this principal read this catalogued object?".

Scopes of static API tokens: ``genomics:read`` reads every object, ``genomics:read:<dataset>``
the objects of one dataset. The passport component provides its own ``ReadPolicy`` (GA4GH
Passport ControlledAccessGrants visas) through the port; see ga4gh.catalogue.access.
"""

from __future__ import annotations

from common.auth import Principal
from ga4gh.catalogue.core.model import GenomicObject

READ_ALL_SCOPE = "genomics:read"


def dataset_scope(dataset: str) -> str:
    """The scope that grants reading one dataset."""
    return f"{READ_ALL_SCOPE}:{dataset}"


class ScopeReadPolicy:
    """Read access by token scope: all objects, or the objects of named datasets."""

    def may_read(self, principal: Principal, obj: GenomicObject) -> bool:
        """True for unrestricted principals, ``genomics:read`` or the dataset's scope."""
        if principal.has_scope(READ_ALL_SCOPE):
            return True
        return obj.dataset is not None and principal.has_scope(dataset_scope(obj.dataset))
