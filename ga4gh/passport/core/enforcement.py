"""Access decisions for every resource server: token, scopes, grant, consent.

§ 64e Abs. 9 SGB V (data only to authorized users for approved purposes) made checkable:
a request is allowed only if (1) the token verified (done by the clearinghouse), (2) its
SMART App Launch 2 scopes allow the action on the resource kind, (3) for a researcher, an
active grant covers the dataset and, if the caller declared one, the purpose, and (4) the
patient's consent allows that purpose today. Machine clients of approved participants
(client credentials: hospitals, data nodes) are authorized by their scopes alone, which the
platform provider set when it registered them.

Refusals for reasons (3) and (4) are reported as "not found" so that the existence of a
resource outside one's grants does not leak; a scope refusal is a 403 because the caller
can see its own token's scopes anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from common.auth import Principal
from ga4gh.passport.core import scopes as smart

Outcome = Literal["allow", "forbidden", "not_found"]


class GrantLike(Protocol):
    """What enforcement needs of a platform provider grant."""

    @property
    def grant_id(self) -> str: ...
    @property
    def dataset_id(self) -> str: ...
    @property
    def purpose(self) -> str: ...


@dataclass(frozen=True)
class AccessRequest:
    """What a handler is about to do."""

    kind: str  # FHIR resource type or GA4GH kind: htsget, drs, refget, trust-center
    action: str  # SMART v2 letter: c r u d s
    dataset_id: str | None = None
    patient: str | None = None  # the patient's pseudonym in the node's domain, for consent
    purpose: str | None = None  # DUO code the caller declared, if any
    domain: str | None = None  # the pseudonym's trust center domain (None: this node's)


@dataclass(frozen=True)
class Decision:
    """The answer and everything the audit log records about it."""

    outcome: Outcome
    reason: str
    grant_id: str | None = None
    purpose: str | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"


ConsentCheck = Callable[[str | None, str, str, datetime], bool]
"""(domain, patient pseudonym, DUO purpose, at) -> does the consent allow this purpose then?"""


def scope_context(principal: Principal) -> str | None:
    """SMART context a principal's scopes apply in (None: unrestricted development)."""
    if principal.unrestricted:
        return None
    return "system" if getattr(principal, "system", False) else "user"


def scopes_allow(principal: Principal, kind: str, action: str) -> bool:
    """SMART check: system/ scopes for machine clients, user/ scopes for users.

    ``patient/`` scopes apply only inside the compartment of the token's ``patient`` claim,
    which the resource server checks per resource; here they count only when the token has a
    patient context."""
    if principal.unrestricted:
        return True
    context = scope_context(principal)
    if smart.allows(principal.scopes, kind, action, context):
        return True
    return bool(getattr(principal, "patient", None)) and smart.allows(
        principal.scopes, kind, action, "patient"
    )


def decide(
    principal: Principal,
    request: AccessRequest,
    grants: Sequence[GrantLike],
    *,
    at: datetime,
    consent: ConsentCheck | None,
) -> Decision:
    """The decision for one request; ``grants`` are the subject's active grants at ``at``."""
    if principal.unrestricted:
        return Decision("allow", "authorization-off")
    if not scopes_allow(principal, request.kind, request.action):
        return Decision("forbidden", "scope")
    if getattr(principal, "system", False):
        return Decision("allow", "participant-scope")
    if request.dataset_id is None:
        # Type-level operations (a search) are allowed here; the handler filters its results
        # with permitted_datasets().
        return Decision("allow", "scope-only")
    covering = [
        g for g in grants
        if g.dataset_id == request.dataset_id
        and (request.purpose is None or g.purpose == request.purpose)
    ]
    if not covering:
        return Decision("not_found", "no-grant" if request.purpose is None or not any(
            g.dataset_id == request.dataset_id for g in grants) else "purpose-mismatch")
    if request.patient is None:
        return Decision("allow", "grant", covering[0].grant_id, covering[0].purpose)
    if consent is None:
        # Fail closed: without the trust center no consent can be established.
        return Decision("not_found", "consent-unavailable", covering[0].grant_id)
    for grant in covering:
        if consent(request.domain, request.patient, grant.purpose, at):
            return Decision("allow", "grant+consent", grant.grant_id, grant.purpose)
    return Decision("not_found", "consent", covering[0].grant_id, covering[0].purpose)


ConsentQuestion = tuple[str | None, str, str]
"""(domain, patient pseudonym, DUO purpose): one question to the trust center."""


def consent_questions(
    principal: Principal, requests: Iterable[AccessRequest], grants: Sequence[GrantLike]
) -> set[ConsentQuestion]:
    """Every consent question :func:`decide` could ask for these requests (to ask them in one
    batch): one per patient and purpose of a grant that covers the request's dataset."""
    if principal.unrestricted or getattr(principal, "system", False):
        return set()
    out: set[ConsentQuestion] = set()
    for req in requests:
        if req.dataset_id is None or req.patient is None:
            continue
        for g in grants:
            if g.dataset_id == req.dataset_id and (req.purpose is None
                                                   or g.purpose == req.purpose):
                out.add((req.domain, req.patient, g.purpose))
    return out


def decide_many(
    principal: Principal,
    requests: Sequence[AccessRequest],
    grants: Sequence[GrantLike],
    *,
    at: datetime,
    consented: Collection[ConsentQuestion] | None,
) -> list[Decision]:
    """:func:`decide` for many requests, with the consent questions answered in advance
    (``consented``: the questions answered "yes"; None: consent cannot be established)."""
    check: ConsentCheck | None = None
    if consented is not None:
        yes = consented

        def check(domain: str | None, patient: str, purpose: str, _at: datetime) -> bool:
            return (domain, patient, purpose) in yes

    return [decide(principal, r, grants, at=at, consent=check) for r in requests]


def permitted_datasets(
    principal: Principal, grants: Iterable[GrantLike], purpose: str | None = None
) -> frozenset[str] | None:
    """Datasets a search may return (None: no dataset restriction, e.g. machine clients)."""
    if principal.unrestricted or getattr(principal, "system", False):
        return None
    return frozenset(g.dataset_id for g in grants if purpose is None or g.purpose == purpose)
