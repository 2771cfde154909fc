"""The platform provider's use cases: one method per action of staff API and CLI.

Each method runs one core transition inside one database transaction (load, decide, save,
history, grants) and then writes the audit record. Other components are reached only through
ports: the passport broker's ClientRegistry and UserDirectory, and the audit log.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from common.errors import (
    Conflict,
    GenomseqError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unprocessable,
)
from platform_provider.core import applications as wf
from platform_provider.core import participants as pr
from platform_provider.core.applications import Application, TransitionEvent
from platform_provider.core.codec import new_application_from_dict
from platform_provider.core.datasets import Dataset, new_dataset
from platform_provider.core.grants import grants_for
from platform_provider.ports import Grant
from platform_provider.storage.sql import SqlPlatformStore, Tx

log = logging.getLogger("genomseq.platform")


class AuditSink(Protocol):
    """What the platform provider needs of the tamper-evident audit log."""

    def append(
        self, event: str, actor: str, details: Mapping[str, Any] | None = None, *, conn: Any = None
    ) -> Any: ...


# Role of scientific committee members in the identity provider (UserDirectory roles).
COMMITTEE_ROLE = "scientific-committee"


class ServiceUnavailable(GenomseqError):
    """A port this action needs is not wired in this deployment."""

    status = 503
    code = "unavailable"


# OAuth 2.0 scopes a participant's client gets by role (SMART App Launch 2 system scopes):
# nodes and data centers hold and serve data, data services read, hospitals submit.
DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {
    pr.ParticipantKind.CLINICAL_DATA_NODE.value: ("system/*.cruds",),
    pr.ParticipantKind.GENOME_DATA_CENTER.value: ("system/*.cruds",),
    pr.ParticipantKind.DATA_SERVICE.value: ("system/*.rs",),
    pr.ParticipantKind.HOSPITAL.value: ("system/*.cu", "system/*.rs"),
}


@dataclass
class PlatformService:
    """Use cases over the SQL store; ports are looked up lazily (wiring order independent)."""

    store: SqlPlatformStore
    audit: AuditSink | None = None
    client_registry: Callable[[], Any] = lambda: None
    user_directory: Callable[[], Any] = lambda: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    min_opinions: int = 1

    # -- helpers ---------------------------------------------------------------------------
    def _audit(self, tx: Tx | None, event: str, actor: str, details: Mapping[str, Any]) -> None:
        # Inside the caller's transaction: the change and its audit entry commit together.
        if self.audit is not None:
            self.audit.append(event, actor, dict(details), conn=tx.conn if tx else None)
        else:
            # Without the trust center's audit log the history tables are the only record.
            log.info("platform event", extra={"event": event})

    def _audit_transition(self, tx: Tx, ev: TransitionEvent) -> None:
        self._audit(
            tx,
            f"platform.application.{ev.action}",
            ev.actor,
            {
                "application_id": ev.application_id,
                "from": ev.from_state.value if ev.from_state else None,
                "to": ev.to_state.value,
                **{k: v for k, v in ev.details.items()},
            },
        )

    def _registry(self) -> Any:
        reg = self.client_registry()
        if reg is None:
            raise ServiceUnavailable("no OAuth client registry (passport broker) is configured")
        return reg

    # -- participants and clients ----------------------------------------------------------
    def register_participant(
        self,
        participant_id: str,
        kind: str,
        name: str,
        *,
        actor: str,
        jwks: Mapping[str, Any] | None = None,
        create_client: bool = True,
        scopes: Sequence[str] | None = None,
    ) -> tuple[pr.Participant, Any]:
        """Approve a participant and register its OAuth client (private_key_jwt with jwks)."""
        now = self.clock()
        participant, change = pr.register(participant_id, kind, name, actor=actor, at=now)
        if jwks is not None:
            _check_jwks(jwks)
        credentials = None
        with self.store.read() as tx:
            if tx.participant_exists(participant_id):
                raise Conflict(f"participant {participant_id} is already registered")
        if create_client:
            # The broker writes in its own transaction; calling it while we hold the write lock
            # would deadlock SQLite, so the client is registered first.
            credentials = self._registry().register_client(
                f"{participant.name} ({participant.participant_id})",
                participant.kind.value,
                jwks=jwks,
                scopes=tuple(scopes or DEFAULT_SCOPES[participant.kind.value]),
                grant_types=("client_credentials",),
            )
            participant = replace(participant, client_id=credentials.client_id)
        try:
            with self.store.transaction() as tx:
                tx.insert_participant(participant)
                tx.add_status_change(change)
                self._audit(
                    tx,
                    "platform.participant.register",
                    actor,
                    {
                        "participant_id": participant_id,
                        "kind": participant.kind.value,
                        "client_id": participant.client_id,
                    },
                )
        except Exception:
            if credentials is not None:  # lost a race for the id: disable the orphan client
                self._registry().set_status(credentials.client_id, "revoked")
            raise
        return participant, credentials

    def set_participant_status(
        self, participant_id: str, status: str, *, reason: str, actor: str
    ) -> pr.Participant:
        """Suspend, reinstate or revoke a participant and its OAuth client."""
        now = self.clock()
        with self.store.read() as tx:
            current = tx.get_participant(participant_id)
        changed, _ = pr.change_status(current, status, actor=actor, at=now, reason=reason)
        if changed.client_id:
            # The broker first (own transaction; see register_participant): a suspended
            # participant must not keep a working client even if our write failed.
            self._registry().set_status(changed.client_id, changed.status.value)
        with self.store.transaction() as tx:
            current = tx.get_participant(participant_id, for_update=True)
            changed, change = pr.change_status(current, status, actor=actor, at=now, reason=reason)
            tx.update_participant(changed)
            tx.add_status_change(change)
            self._audit(
                tx,
                "platform.participant.status",
                actor,
                {
                    "participant_id": participant_id,
                    "from": current.status.value,
                    "to": changed.status.value,
                },
            )
        return changed

    def participant(self, participant_id: str) -> tuple[pr.Participant, list[pr.StatusChange]]:
        """A participant and its history."""
        with self.store.read() as tx:
            return tx.get_participant(participant_id), tx.history(participant_id)

    def participants(self, kind: str | None = None) -> list[pr.Participant]:
        """All participants (optionally of one kind)."""
        if kind:
            pr.parse_kind(kind)
        with self.store.read() as tx:
            return tx.list_participants(kind)

    def add_client(
        self,
        name: str,
        role: str,
        *,
        actor: str,
        jwks: Mapping[str, Any] | None = None,
        scopes: Sequence[str] | None = None,
        redirect_uris: Sequence[str] = (),
    ) -> Any:
        """Register an OAuth 2.0 client at the passport broker; returns its credentials."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("client name is required")
        if jwks is not None:
            _check_jwks(jwks)
        kwargs: dict[str, Any] = {"jwks": jwks, "redirect_uris": tuple(redirect_uris)}
        if scopes:
            kwargs["scopes"] = tuple(scopes)
        elif role in DEFAULT_SCOPES:
            kwargs["scopes"] = DEFAULT_SCOPES[role]
        credentials = self._registry().register_client(name.strip(), role, **kwargs)
        self._audit(
            None,
            "platform.client.register",
            actor,
            {"client_id": credentials.client_id, "role": role},
        )
        return credentials

    def create_user(self, username: str, password: str, *, actor: str, **attrs: Any) -> Any:
        """Create a researcher account in the embedded identity provider."""
        users = self.user_directory()
        if users is None:
            raise ServiceUnavailable("no user directory (passport broker) is configured")
        user = users.create_user(username, password, **attrs)
        self._audit(None, "platform.user.create", actor, {"subject": user.subject})
        return user

    # -- datasets --------------------------------------------------------------------------
    def add_dataset(self, data: Mapping[str, Any], *, actor: str) -> Dataset:
        """Register a dataset with its DUO data-use terms."""
        if not isinstance(data, Mapping):
            raise InvalidInput("the dataset must be a JSON object")
        extra = set(data) - {
            "dataset_id",
            "title",
            "description",
            "custodian_id",
            "data_categories",
            "data_use",
        }
        if extra:
            raise InvalidInput(f"unknown dataset members: {sorted(extra)}")
        ds = new_dataset(
            data.get("dataset_id", ""),
            title=data.get("title", ""),
            description=data.get("description", ""),
            custodian_id=data.get("custodian_id"),
            data_categories=data.get("data_categories"),
            data_use=data.get("data_use"),
            at=self.clock(),
        )
        with self.store.transaction() as tx:
            if ds.custodian_id:
                tx.get_participant(ds.custodian_id)
            tx.insert_dataset(ds)
            self._audit(tx, "platform.dataset.register", actor, {"dataset_id": ds.dataset_id})
        return ds

    def datasets(self) -> list[Dataset]:
        """All datasets."""
        with self.store.read() as tx:
            return tx.datasets()

    # -- applications ----------------------------------------------------------------------
    def create_application(self, data: Any, *, actor: str) -> Application:
        """A new draft application from request JSON."""
        now = self.clock()
        with self.store.transaction() as tx:
            for _ in range(5):
                app_id = f"DAA-{now.year}-{secrets.token_hex(4).upper()}"
                if not tx.application_exists(app_id):
                    break
            else:  # pragma: no cover - 2^32 ids per year
                raise Conflict("could not allocate an application id; retry")
            app, event = new_application_from_dict(data, application_id=app_id, actor=actor, at=now)
            app = tx.insert_application(app)
            tx.add_event(event)
            self._audit_transition(tx, event)
        return app

    def application(self, application_id: str) -> Application:
        """One application (complete record)."""
        with self.store.read() as tx:
            return tx.get_application(application_id)

    def events(self, application_id: str) -> list[dict[str, Any]]:
        """An application's workflow history."""
        with self.store.read() as tx:
            tx.get_application(application_id)
            return tx.events(application_id)

    def applications(
        self,
        *,
        states: list[str] | None = None,
        query: str = "",
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Application], int]:
        """Applications for staff (drafts included)."""
        if states:
            for s in states:
                try:
                    wf.State(s)
                except ValueError:
                    raise InvalidInput(f"unknown state {s!r}") from None
        with self.store.read() as tx:
            return tx.list_applications(states=states, query=query, limit=limit, offset=offset)

    def evaluate(self, application_id: str) -> dict[str, Any]:
        """The DUO outcome of every requested dataset (a preview for the committee)."""
        with self.store.read() as tx:
            app = tx.get_application(application_id)
            terms = {d.dataset_id: d.terms for d in tx.datasets(list(app.datasets))}
        return {
            ds: {
                "outcome": r.outcome.value,
                "reasons": list(r.reasons),
                "obligations": list(r.obligations),
                "valid_until_cap": r.valid_until_cap.isoformat() if r.valid_until_cap else None,
            }
            for ds, r in wf.evaluate(app, terms).items()
        }

    def _transition(
        self, application_id: str, step: Callable[[Application, Tx, datetime], wf.Transition]
    ) -> Application:
        now = self.clock()
        with self.store.transaction() as tx:
            app = tx.get_application(application_id, for_update=True)
            new, event = step(app, tx, now)
            new = tx.save_application(new)
            tx.add_event(event)
            self._sync_grants(tx, app, new, now)
            self._audit_transition(tx, event)
        return new

    def _sync_grants(self, tx: Tx, before: Application, after: Application, now: datetime) -> None:
        if after.state is wf.State.ACTIVE:
            tx.upsert_grants(grants_for(after))
        elif before.state is wf.State.ACTIVE and after.state is wf.State.REVOKED:
            tx.revoke_grants(
                at=now, reason="application revoked", application_id=after.application_id
            )

    def submit(self, application_id: str, *, actor: str) -> Application:
        """draft -> submitted; applicant and authorized users must have accounts by then."""

        def step(a: Application, tx: Tx, now: datetime) -> wf.Transition:
            result = wf.submit(a, actor=actor, at=now)
            self._require_accounts(a)
            return result

        return self._transition(application_id, step)

    def _require_accounts(self, app: Application) -> None:
        # Grants are keyed by the account's ``sub``: a subject without an account would make
        # a grant nobody can use, so the mistake is caught before review.
        users = self.user_directory()
        if users is None:
            return
        if users.get(app.applicant_subject) is None:
            raise Unprocessable("the applicant has no account at the identity provider")
        for i, user in enumerate(app.authorized_users, start=1):
            account = users.get(user.subject)
            if account is None or not account.active:
                raise Unprocessable(f"authorized user {i} has no active account")

    def start_review(self, application_id: str, *, actor: str) -> Application:
        """submitted -> under_review."""
        return self._transition(
            application_id, lambda a, tx, now: wf.start_review(a, actor=actor, at=now)
        )

    def record_opinion(
        self, application_id: str, *, reviewer: str, recommendation: str, comment: str = ""
    ) -> Application:
        """A committee member's opinion on an application under review.

        With the broker's user directory wired, the reviewer must be an active account with
        the ``scientific-committee`` role (deployments without it accept any reviewer id).
        """

        def step(a: Application, tx: Tx, now: datetime) -> wf.Transition:
            # The state is checked first (409 for a closed application, whoever asks).
            if a.state is wf.State.UNDER_REVIEW:
                self._require_committee_member(reviewer)
            return wf.record_opinion(
                a, reviewer=reviewer, recommendation=recommendation, comment=comment, at=now
            )

        return self._transition(application_id, step)

    def _require_committee_member(self, reviewer: str) -> None:
        users = self.user_directory()
        if users is None:
            return
        member = users.get(reviewer) if isinstance(reviewer, str) else None
        if member is None or not member.active or COMMITTEE_ROLE not in member.roles:
            raise PermissionDenied("the reviewer is not a member of the scientific committee")

    def approve(
        self,
        application_id: str,
        *,
        reasons: str,
        actor: str,
        confirm: Sequence[str] = (),
        valid_from: Any = None,
        valid_until: Any = None,
    ) -> Application:
        """under_review -> approved, with the DUO decision per dataset."""

        def step(a: Application, tx: Tx, now: datetime) -> wf.Transition:
            terms = {d.dataset_id: d.terms for d in tx.datasets(list(a.datasets))}
            return wf.approve(
                a,
                terms=terms,
                confirm=confirm,
                reasons=reasons,
                actor=actor,
                at=now,
                min_opinions=self.min_opinions,
                valid_from=valid_from,
                valid_until=valid_until,
            )

        return self._transition(application_id, step)

    def reject(self, application_id: str, *, reasons: str, actor: str) -> Application:
        """under_review -> rejected."""
        return self._transition(
            application_id, lambda a, tx, now: wf.reject(a, reasons=reasons, actor=actor, at=now)
        )

    def activate(self, application_id: str, *, actor: str) -> Application:
        """approved -> active: grants are issued."""
        return self._transition(
            application_id, lambda a, tx, now: wf.activate(a, actor=actor, at=now)
        )

    def revoke(self, application_id: str, *, reasons: str, actor: str) -> Application:
        """approved/active -> revoked: all grants end now."""
        return self._transition(
            application_id, lambda a, tx, now: wf.revoke(a, reasons=reasons, actor=actor, at=now)
        )

    def extend(
        self, application_id: str, *, new_until: Any, reason: str, actor: str
    ) -> Application:
        """Prolong an active application (grants follow)."""
        return self._transition(
            application_id,
            lambda a, tx, now: wf.extend(
                a, new_until=new_until, reason=reason, actor=actor, at=now
            ),
        )

    def expire(self, application_id: str, *, actor: str) -> Application:
        """active -> expired once the period is over."""
        return self._transition(
            application_id, lambda a, tx, now: wf.expire(a, actor=actor, at=now)
        )

    def expire_due(self, *, actor: str) -> list[str]:
        """Expire every active application whose period has ended; returns their ids."""
        now = self.clock()
        with self.store.read() as tx:
            candidates = tx.due_for_expiry(now)
        done = []
        for app_id in candidates:
            try:
                self.expire(app_id, actor=actor)
                done.append(app_id)
            except wf.IllegalTransition:
                continue  # still running, or changed meanwhile
        return done

    def withdraw(self, application_id: str, *, actor: str) -> Application:
        """draft/submitted/under_review -> withdrawn."""
        return self._transition(
            application_id, lambda a, tx, now: wf.withdraw(a, actor=actor, at=now)
        )

    def report_result(
        self, application_id: str, *, title: str, reference: str, year: Any, actor: str
    ) -> Application:
        """Record a publication for the register."""
        return self._transition(
            application_id,
            lambda a, tx, now: wf.report_result(
                a, title=title, reference=reference, year=year, actor=actor, at=now
            ),
        )

    # -- grants ----------------------------------------------------------------------------
    def grants(self, **filters: Any) -> list[Grant]:
        """Grants for staff, filtered by subject, application, dataset or activity time."""
        with self.store.read() as tx:
            return tx.grants(**filters)

    def revoke_grant(self, grant_id: str, *, reason: str, actor: str) -> Grant:
        """Revoke one grant now (the application stays as it is)."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("a reason is required")
        now = self.clock()
        with self.store.transaction() as tx:
            grant = tx.get_grant(grant_id)
            if grant.revoked_at is not None:
                raise Conflict("the grant is already revoked")
            tx.revoke_grants(at=now, reason=reason.strip(), grant_id=grant_id)
            grant = tx.get_grant(grant_id)
            self._audit(
                tx,
                "platform.grant.revoke",
                actor,
                {"grant_id": grant_id, "application_id": grant.application_id},
            )
        return grant

    # -- register --------------------------------------------------------------------------
    def register_entries(
        self,
        *,
        query: str = "",
        states: list[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Application], int]:
        """Applications visible in the public register (never drafts)."""
        with self.store.read() as tx:
            return tx.list_applications(
                states=states, query=query, limit=limit, offset=offset, public_only=True
            )

    def register_entry(self, application_id: str) -> Application:
        """One public application; NotFound for drafts and unknown ids alike."""
        with self.store.read() as tx:
            app = tx.get_application(application_id)
        if app.state is wf.State.DRAFT:
            raise NotFound(f"no application {application_id}")
        return app


def _check_jwks(jwks: Mapping[str, Any]) -> None:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise InvalidInput("jwks must be a JWK Set with at least one key")
    for k in keys:
        if not isinstance(k, Mapping) or k.get("kty") not in ("RSA", "EC"):
            raise InvalidInput("private_key_jwt keys must be RSA or EC public JWKs")
        if any(m in k for m in ("d", "p", "q", "dp", "dq", "qi")):
            raise InvalidInput("the JWKS contains private key material")
