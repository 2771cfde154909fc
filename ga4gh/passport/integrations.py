"""Enforcement applied to the resource servers that exist: htsget/DRS (through the genome
catalogue's ReadPolicy port), DRS passports in request bodies (through the catalogue's
PassportAuth port) and FHIR (through :class:`PassportFhirAccess`, the FHIR server's
``FhirAccessPolicy`` port: reads, and searches/history filtered per resource).

Static operator tokens (``GENOMSEQ_API_TOKENS_FILE``) keep their scope-only semantics; tokens
of the passport broker go through the full decision (scopes, grant, consent, audit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from common.auth import Principal
from common.errors import NotFound, PayloadTooLarge, PermissionDenied, Unauthenticated
from config.context import AppContext
from ga4gh.passport.core.clearinghouse import Clearinghouse, TokenPrincipal
from ga4gh.passport.core.enforcement import AccessRequest, Decision, scopes_allow
from ga4gh.passport.core.jose import InvalidToken
from ga4gh.passport.enforcement import Enforcer, declared_purpose

# A FHIR resource belongs to a dataset through this tag (meta.tag), set by the node when it
# assigns the resource to a dataset the platform provider registered.
DATASET_TAG_SYSTEM = "https://genomseq.de/fhir/CodeSystem/dataset"
GENOMICS_KIND = "genomics"  # SMART-style scope: user/genomics.rs (htsget, DRS)
# Reference parameters that link a resource to its own patient (see ResearcherReadFilter).
SAME_PATIENT_LINKS = frozenset({"subject", "patient"})


def _purpose() -> str | None:
    try:
        return declared_purpose()
    except RuntimeError:  # outside a request (CLI)
        return None


class PassportReadPolicy:
    """The catalogue's ReadPolicy for broker tokens: grant on the dataset + donor consent."""

    def __init__(self, ctx: AppContext, fallback: Any) -> None:
        self._ctx = ctx
        self._fallback = fallback

    def may_read(self, principal: Principal, obj: Any) -> bool:
        """True if allowed; raises NotFound for objects outside the caller's grants."""
        if not isinstance(principal, TokenPrincipal):
            return bool(self._fallback.may_read(principal, obj))
        if not principal.system and obj.dataset is None:
            # Not assigned to any dataset: no grant can cover it.
            self._ctx.get(Enforcer).decide(principal, AccessRequest(GENOMICS_KIND, "r", "-"))
            raise NotFound("no such object")
        node = self._ctx.settings.trust_center.genome_data_center_id
        req = AccessRequest(GENOMICS_KIND, "r", obj.dataset, obj.donor_pseudonym, _purpose(),
                            f"grz:{node}")
        decision: Decision = self._ctx.get(Enforcer).decide(principal, req)
        if decision.outcome == "not_found":
            raise NotFound("no such object")
        return decision.allowed


class ClearinghousePassports:
    """The catalogue's PassportAuth port: passports in a DRS request body.

    GA4GH DRS 1.4 ``PassportAuth`` (``POST /objects/{id}`` and ``/access/{access_id}`` with
    ``{"passports": [...]}``). Each passport is verified by the clearinghouse exactly as any
    passport (trusted broker, pinned keys, audience, lifetime <= 1 h, every visa checked, bad
    visas dropped). Several passports must speak for one subject of one issuer (their visas
    are pooled); anything else is refused rather than merged across identities. The holder
    reads genomic objects (implied scope ``user/genomics.rs``); whether a given object may be
    read is still decided per object by :class:`PassportReadPolicy` (grant visa + consent).
    """

    max_passports = 10

    def __init__(self, clearinghouse: Clearinghouse) -> None:
        self._clearinghouse = clearinghouse
        self.max_passport_bytes = clearinghouse.limits.max_passport_bytes

    def passport_issuers(self) -> tuple[str, ...]:
        """Visa issuers trusted by the clearinghouse."""
        return self._clearinghouse.passport_issuers()

    def bearer_issuers(self) -> tuple[str, ...]:
        """Only this broker issues the access tokens resource servers accept."""
        return (self._clearinghouse.own_issuer,)

    def principal(self, passports: Sequence[str]) -> Principal:
        """One TokenPrincipal for the passports (all verified, one subject)."""
        if not passports:
            raise Unauthenticated("no passport was presented")
        if len(passports) > self.max_passports:
            raise PayloadTooLarge(f"at most {self.max_passports} passports per request")
        verified: list[TokenPrincipal] = []
        for token in passports:
            try:
                verified.append(self._clearinghouse.verify_passport(token))
            except InvalidToken as exc:
                if exc.reason == "too_large":
                    raise PayloadTooLarge(exc.message) from exc
                raise Unauthenticated(f"passport refused: {exc.message}") from exc
        first = verified[0]
        if any((p.issuer, p.subject) != (first.issuer, first.subject) for p in verified):
            raise Unauthenticated("the passports were issued for different subjects")
        visas = tuple(v for p in verified for v in p.visas)
        return replace(first, visas=visas, scopes=frozenset({f"user/{GENOMICS_KIND}.rs"}))


def dataset_of(resource: Mapping[str, Any]) -> str | None:
    """The dataset a FHIR resource is tagged with, if any."""
    meta = resource.get("meta")
    tags = meta.get("tag", []) if isinstance(meta, Mapping) else []
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, Mapping) and tag.get("system") == DATASET_TAG_SYSTEM:
            code = tag.get("code")
            return code if isinstance(code, str) and code else None
    return None


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The id of the Patient a resource is about (Patient: itself; else subject/patient)."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for name in ("subject", "patient"):
        ref = resource.get(name)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            kind, _, rid = ref["reference"].rpartition("/")
            if kind.endswith("Patient") and rid:
                return rid
    return None


def authorize_fhir(
    ctx: AppContext, principal: Principal, res_type: str, action: str,
    resource: Mapping[str, Any] | None = None,
) -> None:
    """Decide (and audit) one FHIR interaction of a broker token.

    Machine clients of approved participants: their scopes decide. Researchers: instance
    reads of resources in a dataset they hold an active grant for, whose patient consented
    (404 otherwise); reads of many resources go through :class:`ResearcherReadFilter`
    (``PassportFhirAccess.read_filter``); other type-level interactions (batch,
    conditional writes) are refused with 403.
    """
    enforcer = ctx.find(Enforcer)
    if enforcer is None or not isinstance(principal, TokenPrincipal):
        return
    if principal.system:
        enforcer.enforce(principal, AccessRequest(res_type, action))
        return
    if resource is None:
        enforcer.decide(principal, AccessRequest(res_type, action, "-"))
        raise PermissionDenied(
            "this interaction is not available to researchers (read, search and history are)")
    dataset = dataset_of(resource) or "-"
    req = AccessRequest(res_type, action, dataset, patient_of(resource), _purpose())
    enforcer.enforce(principal, req)


class ResearcherReadFilter:
    """What a researcher may see among many FHIR resources during one request.

    Structurally a ``fhir_server.core.access.ReadFilter``: the datasets the researcher holds
    an active grant for (for the declared purpose) restrict the SQL search, and every
    resource found is decided like an instance read (scope of its type, grant on its dataset,
    its patient's consent), one batch per page. One audit entry per request summarises the
    decisions (counts per reason, the grants used), never one entry per resource.
    """

    tag_system = DATASET_TAG_SYSTEM

    def __init__(self, enforcer: Enforcer, principal: TokenPrincipal, kind: str,
                 action: str, purpose: str | None) -> None:
        self._enforcer = enforcer
        self._principal = principal
        self._kind = kind
        self._action = action
        self._purpose = purpose
        self.datasets: frozenset[str] = enforcer.permitted_datasets(principal, purpose) \
            or frozenset()
        self._admitted = 0
        self._withheld: dict[str, int] = {}
        self._grants: set[str] = set()

    def type_allowed(self, res_type: str) -> bool:
        """The token's SMART scopes allow reading this type."""
        return scopes_allow(self._principal, res_type, self._action)

    def may_link(self, res_type: str, code: str) -> bool:
        """Chains and ``_has`` only through ``subject``/``patient``: the resources they link
        belong to the same patient, whose consent ``admit`` checks on the match itself.
        Any other link could match on a resource of a patient who did not consent."""
        return code in SAME_PATIENT_LINKS

    def admit(self, resources: Sequence[Mapping[str, Any]]) -> list[bool]:
        """One decision per resource, as for a read of it (dataset, scope, consent)."""
        requests = [AccessRequest(str(r.get("resourceType", "")), self._action,
                                  dataset_of(r) or "-", patient_of(r), self._purpose)
                    for r in resources]
        out = []
        for decision in self._enforcer.decide_many(self._principal, requests):
            if decision.allowed:
                self._admitted += 1
                if decision.grant_id is not None:
                    self._grants.add(decision.grant_id)
            else:
                self._withheld[decision.reason] = self._withheld.get(decision.reason, 0) + 1
            out.append(decision.allowed)
        return out

    def finish(self, returned: int) -> None:
        """Record the request's decision: who, what, which grants, what was withheld."""
        details: dict[str, Any] = {
            "kind": self._kind, "action": self._action, "outcome": "allow",
            "reason": "filtered", "datasets": sorted(self.datasets),
            "grants": sorted(self._grants), "admitted": self._admitted,
            "withheld": sum(self._withheld.values()), "withheld_by": dict(self._withheld),
            "returned": returned,
        }
        if self._purpose is not None:
            details["purpose"] = self._purpose
        self._enforcer.record(self._principal, details)


class PassportFhirAccess:
    """The FHIR server's access policy (``fhir_server.core.access.FhirAccessPolicy``) for
    broker tokens; installed by the passport wiring. Static operator tokens: scopes only."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def authorize(self, principal: Principal, res_type: str, action: str,
                  resource: Mapping[str, Any] | None = None) -> None:
        """See :func:`authorize_fhir`."""
        authorize_fhir(self._ctx, principal, res_type, action, resource)

    def read_filter(self, principal: Principal, res_type: str,
                    action: str) -> ResearcherReadFilter | None:
        """A filter for researchers; machine clients are decided (and audited) by scope for
        ``res_type`` (``*``: system level, nothing to decide here) and get none."""
        enforcer = self._ctx.find(Enforcer)
        if enforcer is None or not isinstance(principal, TokenPrincipal):
            return None
        if principal.system:
            if res_type != "*":
                enforcer.enforce(principal, AccessRequest(res_type, action))
            return None
        if res_type != "*" and not scopes_allow(principal, res_type, action):
            enforcer.decide(principal, AccessRequest(res_type, action, "-"))
            raise PermissionDenied("the access token's scopes do not allow this interaction")
        return ResearcherReadFilter(enforcer, principal, res_type, action, _purpose())
