"""The enforcement mechanism every resource server uses: declare, then decide and audit.

A handler declares what it needs; the decision (see :mod:`ga4gh.passport.core.enforcement`)
combines the verified token, its SMART scopes, the platform provider's live grants (so a
revoked grant stops working on the next request) and the trust center's consent
evaluation. Every decision, allowed or not, is appended to the tamper-evident audit log.

Usage in a Flask view::

    @bp.get("/reads/<object_id>")
    @require("htsget", "r", dataset_of=lambda object_id: catalogue.dataset(object_id))
    def reads(object_id): ...

or, where the dataset is only known inside the handler, ``enforce(AccessRequest(...))``.
"""

from __future__ import annotations

import atexit
import collections
import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from flask import g, has_request_context, request

from common.auth import Principal
from common.errors import NotFound, PermissionDenied
from config.context import AppContext, app_context
from ga4gh.passport.core.enforcement import (
    AccessRequest,
    ConsentCheck,
    ConsentQuestion,
    Decision,
    GrantLike,
    consent_questions,
    decide,
    decide_many,
    permitted_datasets,
)
from ga4gh.passport.core.projects import within_project
from ga4gh.passport.core.visas import dataset_of_value
from platform_provider.ports import Grant, GrantDirectory

log = logging.getLogger("genomseq.passport.enforcement")

P = ParamSpec("P")
R = TypeVar("R")

# Header a client uses to declare the purpose (a DUO code) of its request.
PURPOSE_HEADER = "X-GA4GH-Purpose"


class ConsentEvaluator(Protocol):
    """What enforcement asks about consent (the trust center's ConsentService, adapted)."""

    def allows(self, domain: str | None, patient: str, purpose: str, at: datetime) -> bool: ...


class TrustCenterConsent:
    """ConsentEvaluator over the trust center's ConsentService (in-process or HTTP).

    Every purpose of a data-access grant is secondary use for research (a DUO code), which
    the trust center evaluates as ``Purpose.RESEARCH`` (Teilnahmeerklaerung scope
    mvSequencing plus the MII Broad Consent). Any error answers "no" (fail closed).
    """

    def __init__(self, service: Any, default_domain: str) -> None:
        self._service = service
        self._default_domain = default_domain

    def allows(self, domain: str | None, patient: str, purpose: str, at: datetime) -> bool:
        """True only if the trust center says the pseudonym's data may be used."""
        try:
            from trust_center.core.consent import Purpose

            wanted = Purpose.RESEARCH if purpose.startswith("DUO:") else Purpose(purpose)
            decision = self._service.may_use(domain or self._default_domain, patient, wanted, at)
        except Exception:  # noqa: BLE001 - any failure to establish consent means "no"
            log.warning("consent evaluation failed; access refused")
            return False
        return bool(decision.allowed)

    def permitted(self, domain: str | None, patients: Sequence[str], purpose: str,
                  at: datetime) -> frozenset[str]:
        """Batch form (ConsentService.permitted): the patients whose consent allows it."""
        try:
            from trust_center.core.consent import Purpose

            wanted = Purpose.RESEARCH if purpose.startswith("DUO:") else Purpose(purpose)
            return frozenset(self._service.permitted(domain or self._default_domain,
                                                     list(patients), wanted, at))
        except Exception:  # noqa: BLE001 - any failure to establish consent means "no"
            log.warning("consent evaluation failed; access refused")
            return frozenset()


def _consent_port() -> type | None:
    try:
        module = importlib.import_module("trust_center.ports")
    except ImportError:
        return None
    return getattr(module, "ConsentService", None)


@dataclass(frozen=True)
class VisaGrant:
    """A grant asserted by a trusted external issuer's ControlledAccessGrants visa."""

    grant_id: str
    dataset_id: str
    purpose: str


class DecisionAuditor:
    """Appends access decisions to the audit log, synchronously or in batches.

    ``async`` mode appends decisions to an in-memory buffer; a daemon thread wakes every
    ``batch_wait`` seconds and appends what accumulated in one transaction (every entry still
    hash-chained and the head signed). The request thread never wakes the writer: waking it
    per decision hands the GIL to the writer in the middle of the request, which cost more
    than the batching saved. Nothing is dropped: when the buffer is full the caller appends
    synchronously; :meth:`flush` (called at exit) drains it. What can be lost is what a crash
    of the process leaves in the buffer (at most ``batch_wait`` seconds of decisions).
    """

    def __init__(self, audit_log: Any, mode: str = "async", max_queue: int = 10_000,
                 batch_wait: float = 0.05) -> None:
        self._log = audit_log
        self._mode = mode
        self._pending: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._max_queue = max_queue
        self._batch_wait = batch_wait
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()  # one batch at a time keeps the log's order
        if mode == "async":
            atexit.register(self.flush)

    def record(self, actor: str, details: dict[str, Any]) -> None:
        """Record one decision (event ``access.decision``)."""
        if self._mode != "async" or len(self._pending) >= self._max_queue:
            self._log.append("access.decision", actor, details)
            return
        self._start()
        self._pending.append((actor, details))  # deque.append is atomic

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="audit-decisions",
                                                    daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._batch_wait)
            while self._pending:
                self._drain()

    def _drain(self) -> None:
        with self._drain_lock:
            batch: list[tuple[str, dict[str, Any]]] = []
            while self._pending and len(batch) < 500:
                batch.append(self._pending.popleft())
            if not batch:
                return
            try:
                self._write(batch)
            except Exception:  # noqa: BLE001 - keep auditing; the failure itself is logged
                log.exception("audit log append failed for %d decisions", len(batch))

    def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        from common.db import write_transaction

        with write_transaction(self._log.engine) as conn:
            self._log.append_many([("access.decision", actor, details)
                                   for actor, details in batch], conn=conn)

    def flush(self) -> None:
        """Wait until every decision recorded so far is in the audit log."""
        if self._mode != "async":
            return
        while self._pending:
            self._drain()
        with self._drain_lock:  # a batch the writer thread took is written when it releases
            pass


class Enforcer:
    """Decides and audits access requests for one app."""

    def __init__(
        self, ctx: AppContext, platform_url: str = "", clock: Callable[[], float] = time.time,
        audit_mode: str = "sync",
    ) -> None:
        self._ctx = ctx
        self._platform_url = platform_url
        self._clock = clock
        self._audit_mode = audit_mode
        self._auditor: DecisionAuditor | None = None

    def flush(self) -> None:
        """Wait until every decision so far is in the audit log."""
        if self._auditor is not None:
            self._auditor.flush()

    def active_grants(self, principal: Principal) -> list[GrantLike]:
        """The grants the principal holds now (none for machine clients)."""
        return self._grants(principal, datetime.fromtimestamp(self._clock(), UTC))

    def _grants(self, principal: Principal, at: datetime) -> list[GrantLike]:
        # A request acting for one research project decides on that project's grants only.
        return within_project(self._all_grants(principal, at), _acting_project())

    def _all_grants(self, principal: Principal, at: datetime) -> list[GrantLike]:
        if principal.unrestricted or getattr(principal, "system", False):
            return []
        directory = self._ctx.find(GrantDirectory)  # type: ignore[type-abstract]
        live: list[Grant] = directory.active_grants(principal.subject, at) if directory else []
        if getattr(principal, "token_kind", "") != "passport":
            # An access token: the platform provider's grants, read now (revocation is
            # effective on the next request).
            return list(live)
        # A passport: its ControlledAccessGrants visas. Those of our platform provider
        # count only while the grant they stand for is still active, so revoking a grant
        # also disables passports issued before.
        by_id = {g.grant_id: g for g in live}
        out: list[GrantLike] = []
        for visa in principal.controlled_access():  # type: ignore[attr-defined]
            if visa.source == self._platform_url:
                grant = by_id.get(str(visa.extra.get("grant", "")))
                dataset = dataset_of_value(self._platform_url, visa.value)
                if grant is not None and grant.dataset_id == dataset:
                    out.append(grant)
            else:
                out.append(VisaGrant(visa.jti, visa.value, str(visa.extra.get("purpose", ""))))
        return out

    def _consent(self) -> ConsentCheck | None:
        evaluator = self._ctx.find(ConsentEvaluator)  # type: ignore[type-abstract]
        if evaluator is not None:
            return evaluator.allows
        port = _consent_port()
        service = self._ctx.find(port) if port is not None else None
        if service is None:
            return None
        node = self._ctx.settings.trust_center.clinical_data_node_id
        return TrustCenterConsent(service, f"kdk:{node}").allows

    def _consented(self, questions: set[ConsentQuestion],
                   at: datetime) -> set[ConsentQuestion] | None:
        """The questions the trust center answers "yes", asked in batches where it can."""
        evaluator: Any = self._ctx.find(ConsentEvaluator)  # type: ignore[type-abstract]
        if evaluator is None:
            port = _consent_port()
            service = self._ctx.find(port) if port is not None else None
            if service is None:
                return None
            node = self._ctx.settings.trust_center.clinical_data_node_id
            evaluator = TrustCenterConsent(service, f"kdk:{node}")
        batch = getattr(evaluator, "permitted", None)
        yes: set[ConsentQuestion] = set()
        groups: dict[tuple[str | None, str], list[str]] = {}
        for domain, patient, purpose in questions:
            groups.setdefault((domain, purpose), []).append(patient)
        for (domain, purpose), patients in groups.items():
            if batch is not None:
                allowed = batch(domain, sorted(patients), purpose, at)
                yes.update((domain, p, purpose) for p in patients if p in allowed)
            else:
                yes.update((domain, p, purpose) for p in patients
                           if evaluator.allows(domain, p, purpose, at))
        return yes

    def decide_many(self, principal: Principal,
                    requests: Sequence[AccessRequest]) -> list[Decision]:
        """Decisions for many requests of one caller (a page of search results): grants read
        once, consent asked in one batch per purpose. Not audited one by one: the caller
        records one summary per request with :meth:`record`."""
        at = datetime.fromtimestamp(self._clock(), UTC)
        grants = self._grants(principal, at)
        questions = consent_questions(principal, requests, grants)
        consented = self._consented(questions, at) if questions else set()
        return decide_many(principal, requests, grants, at=at, consented=consented)

    def record(self, principal: Principal, details: dict[str, Any]) -> None:
        """Append one access decision summarised by the caller (no identifiers of data)."""
        base = {"client": getattr(principal, "client_id", "") or "",
                "token": getattr(principal, "token_id", "") or ""}
        self._record(principal, {**details, **base})

    def decide(self, principal: Principal, req: AccessRequest) -> Decision:
        """The decision for one request, recorded in the audit log."""
        at = datetime.fromtimestamp(self._clock(), UTC)
        grants = self._grants(principal, at)
        decision = decide(principal, req, grants, at=at, consent=self._consent())
        self._audit(principal, req, decision)
        return decision

    def enforce(self, principal: Principal, req: AccessRequest) -> Decision:
        """Decide and raise NotFound/PermissionDenied unless allowed."""
        decision = self.decide(principal, req)
        if decision.outcome == "forbidden":
            raise PermissionDenied("the access token's scopes do not allow this operation")
        if decision.outcome == "not_found":
            raise NotFound("resource not found")
        return decision

    def permitted_datasets(
        self, principal: Principal, purpose: str | None = None
    ) -> frozenset[str] | None:
        """Datasets a search may return for this principal (None: unrestricted)."""
        at = datetime.fromtimestamp(self._clock(), UTC)
        return permitted_datasets(principal, self._grants(principal, at), purpose)

    def _audit(self, principal: Principal, req: AccessRequest, decision: Decision) -> None:
        details: dict[str, Any] = {
            "kind": req.kind,
            "action": req.action,
            "outcome": decision.outcome,
            "reason": decision.reason,
            "client": getattr(principal, "client_id", "") or "",
            "token": getattr(principal, "token_id", "") or "",
        }
        if req.dataset_id is not None:
            details["dataset"] = req.dataset_id
        if decision.grant_id is not None:
            details["grant"] = decision.grant_id
        if decision.purpose is not None:
            details["purpose"] = decision.purpose
        self._record(principal, details)

    def _record(self, principal: Principal, details: dict[str, Any]) -> None:
        try:
            from common.audit import AuditLog
        except ImportError:  # pragma: no cover - the audit log is part of the foundation
            return
        audit = self._ctx.find(AuditLog)
        if audit is None:
            return
        if self._auditor is None:
            self._auditor = DecisionAuditor(audit, self._audit_mode)
        self._auditor.record(principal.subject[:200] or "anonymous", details)


def act_for_project(project: str | None) -> None:
    """Let this request's decisions use only the grants of ``project`` (a data-access
    application id; see :mod:`ga4gh.passport.core.projects`)."""
    g.genomseq_project = project


def _acting_project() -> str | None:
    return g.get("genomseq_project") if has_request_context() else None


def current_principal() -> Principal:
    """The request's principal (authenticated once per request and cached on ``g``)."""
    principal = getattr(g, "genomseq_principal", None)
    if principal is None:
        principal = app_context().authenticator.authenticate(request.headers.get("Authorization"))
        g.genomseq_principal = principal
    return principal  # type: ignore[no-any-return]


def enforcer() -> Enforcer:
    """The app's Enforcer (installed by the passport wiring)."""
    return app_context().get(Enforcer)


def declared_purpose() -> str | None:
    """The DUO purpose the client declared for this request, if any."""
    value = request.headers.get(PURPOSE_HEADER, "").strip()
    return value or None


def enforce(kind: str, action: str, *, dataset_id: str | None = None,
            patient: str | None = None, domain: str | None = None) -> Decision:
    """Authorize the current request now (for handlers that learn the dataset late)."""
    req = AccessRequest(kind, action, dataset_id, patient, declared_purpose(), domain)
    return enforcer().enforce(current_principal(), req)


def require(
    kind: str,
    action: str,
    *,
    dataset_of: Callable[..., str | None] | None = None,
    patient_of: Callable[..., str | None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: authorize ``action`` (SMART c/r/u/d/s) on ``kind`` before the view runs.

    ``dataset_of`` and ``patient_of`` get the view's keyword arguments and return the
    dataset and patient the request touches (None when unknown: a type-level operation).
    """

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            dataset = dataset_of(**kwargs) if dataset_of else None
            patient = patient_of(**kwargs) if patient_of else None
            if dataset_of is not None and dataset is None:
                # The object does not exist: answer as for an object outside one's grants.
                current_principal()
                raise NotFound("resource not found")
            enforce(kind, action, dataset_id=dataset, patient=patient)
            return view(*args, **kwargs)

        return wrapper

    return decorate
