"""The single place where read access to catalogued objects is decided.

Every API that hands out bytes of a catalogued object (htsget tickets, DRS access URLs, the
data endpoint's signed URLs are only minted after this check) calls :func:`authorize_read`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.auth import Principal
from common.errors import PermissionDenied
from ga4gh.catalogue.core.access import ScopeReadPolicy
from ga4gh.catalogue.core.model import GenomicObject
from ga4gh.catalogue.ports import ReadPolicy

if TYPE_CHECKING:
    from config.context import AppContext

_DEFAULT = ScopeReadPolicy()


def may_read(ctx: AppContext, principal: Principal, obj: GenomicObject) -> bool:
    """True if the principal may read the object under the deployment's ReadPolicy."""
    policy: ReadPolicy = ctx.find(ReadPolicy) or _DEFAULT  # type: ignore[type-abstract]
    return policy.may_read(principal, obj)


def authorize_read(ctx: AppContext, principal: Principal, obj: GenomicObject) -> None:
    """Raise PermissionDenied unless the principal may read the object."""
    if not may_read(ctx, principal, obj):
        raise PermissionDenied("the access token does not grant access to this object")
