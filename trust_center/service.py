"""The trust center's operations (§ 64e Abs. 9c/10 SGB V; GenDV §§ 4-7) on its own database.

Every operation runs in one write transaction together with its entry in the trust center's
audit log, so nothing happens that the log does not show; refusals are logged on their own.
Implements the PseudonymService and ConsentService ports in-process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from common.audit import AuditLog
from common.db import write_transaction
from trust_center.core import consent as consent_rules
from trust_center.core.consent import (
    ConsentDecision,
    ParticipationScope,
    ParticipationStatement,
    Purpose,
    ScopeStatus,
)
from trust_center.core.errors import (
    ConsentMissing,
    DualControlViolation,
    DuplicateTransferNumber,
    InvalidIdentifier,
    ReidentificationNotApproved,
    UnknownPseudonym,
    UnknownRequest,
    UnknownVorgangsnummer,
    VorgangsnummerExpired,
    VorgangsnummerUsed,
    WrongNodeKind,
)
from trust_center.core.identifiers import (
    DataKind,
    new_vorgangsnummer,
    validate_arbeitsnummer,
    validate_ik,
    validate_kvnr,
    validate_transfer_number,
)
from trust_center.core.pseudonyms import (
    Domain,
    DomainKind,
    KeyRing,
    dataset_subject,
    identifier_subject,
    parse_pseudonym,
    person_subject,
)
from trust_center.ports import (
    ConsentChanges,
    ConsentStatus,
    DatasetPseudonym,
    ParticipationDeclaration,
    PseudonymInfo,
)
from trust_center.storage import sql

# Identifier systems whose values are KVNRs (unchangeable part): pseudonyms derived from them
# are person pseudonyms, so a node's patient links to the person's cases and consents.
KVNR_SYSTEMS = frozenset({"http://fhir.de/sid/gkv/kvid-10", "http://fhir.de/sid/pkv/kvid-10",
                          "kvnr"})
REIDENTIFICATION_PURPOSES = (Purpose.CASE_IDENTIFICATION, Purpose.RE_IDENTIFICATION)
APPROVALS_NEEDED = 2
_NODE_KIND = {DataKind.CLINICAL: DomainKind.CLINICAL_DATA_NODE,
              DataKind.GENOMIC: DomainKind.GENOME_DATA_CENTER}


@dataclass(frozen=True)
class Registration:
    """The trust center's answer to a case registration."""

    case_id: str
    vorgangsnummer_genomic: str
    vorgangsnummer_clinical: str
    expires: datetime
    mode: str  # "vorgangsnummer" or "tan"
    new_case: bool = True  # False: follow-up numbers for a case registered before


@dataclass(frozen=True)
class Correction:
    """A correction request as the hospital receives it: by Arbeitsnummer, never by KVNR."""

    id: str
    arbeitsnummer: str
    kind: str
    reason: str
    requested: datetime


@dataclass(frozen=True)
class ReidentificationRequest:
    """A re-identification request and its approvals (no identifiers)."""

    id: str
    purpose: str
    domain: str
    hospital_ik: str
    requested_by: str
    status: str
    approvers: tuple[str, ...]
    created: datetime


@dataclass(frozen=True)
class Rotation:
    """Result of a domain key rotation."""

    domain: str
    old_version: int
    new_version: int
    rederived: int


def _now_us() -> int:
    return time.time_ns() // 1000


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _digest(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()


def _new_id() -> str:
    return secrets.token_hex(16)


class TrustCenterService:
    """Trust center operations; also the in-process PseudonymService and ConsentService."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        audit: AuditLog,
        *,
        lifetime_days: int = 90,
        accept_transfer_numbers: bool = True,
        clock_us: Callable[[], int] = _now_us,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.audit = audit
        self.lifetime = timedelta(days=lifetime_days)
        self.accept_transfer_numbers = accept_transfer_numbers
        self._clock_us = clock_us

    def now(self) -> datetime:
        """The service's clock (tests move it)."""
        return _from_us(self._clock_us())

    # --- registration (GenDV § 4) ------------------------------------------------------------

    def register_case(
        self,
        *,
        ik: str,
        arbeitsnummer: str,
        kvnr: str,
        actor: str,
        tan_g: str | None = None,
        tan_c: str | None = None,
    ) -> Registration:
        """Register a case (or a follow-up report of one: same IK and Arbeitsnummer, same
        patient); answer two single-use Vorgangsnummern (or accept tanG/tanC)."""
        validate_ik(ik)
        validate_arbeitsnummer(arbeitsnummer)
        validate_kvnr(kvnr)
        if (tan_g is None) != (tan_c is None):
            raise InvalidIdentifier("compatibility mode needs both tanG and tanC")
        if tan_g is not None and tan_c is not None:
            if not self.accept_transfer_numbers:
                raise InvalidIdentifier("this trust center issues Vorgangsnummern itself; "
                                        "hospital-generated tanG/tanC are not accepted")
            vng = validate_transfer_number(tan_g, "tanG")
            vnk = validate_transfer_number(tan_c, "tanC")
            if vng == vnk:
                raise DuplicateTransferNumber("tanG and tanC must differ")
            mode = "tan"
        else:
            vng, vnk, mode = new_vorgangsnummer(), new_vorgangsnummer(), "vorgangsnummer"
        index = self.keys.arbeitsnummer_index(ik, arbeitsnummer)
        person_id = self.keys.subject_id("kvnr", kvnr)
        try:
            return self._register(ik, arbeitsnummer, index, person_id, vng, vnk, mode, actor)
        except IntegrityError:
            # A concurrent registration of the same Arbeitsnummer won the insert: this one
            # becomes a follow-up of that case (or is refused like any duplicate).
            return self._register(ik, arbeitsnummer, index, person_id, vng, vnk, mode, actor)

    def _register(self, ik: str, arbeitsnummer: str, index: str, person_id: str, vng: str,
                  vnk: str, mode: str, actor: str) -> Registration:
        now_us = self._clock_us()
        expires_us = now_us + int(self.lifetime.total_seconds() * 1_000_000)
        with write_transaction(self.engine) as conn:
            if sql.transfer_numbers_exist(conn, [_digest(vng), _digest(vnk)]):
                raise DuplicateTransferNumber("this tanG or tanC was registered before")
            existing = sql.case_by_index(conn, index)
            if existing is None:
                case_id, event = _new_id(), "case.registered"
                sql.insert_case(
                    conn, id=case_id, ik=ik, arbeitsnummer_index=index,
                    arbeitsnummer_enc=self.keys.encrypt_arbeitsnummer(case_id, ik, arbeitsnummer),
                    person_id=person_id, mode=mode, created_us=now_us,
                )
                # A person pseudonym answers for all the person's cases: a new one changes it.
                sql.log_consent_change(conn, [case_id], now_us)
            else:
                case = sql.get_case(conn, existing)
                assert case is not None
                if not hmac.compare_digest(case.person_id, person_id):
                    raise DuplicateTransferNumber(
                        "this hospital registered this Arbeitsnummer for another patient")
                # A follow-up report (Verlaufs-, Nach- or Korrekturmeldung) of the same case:
                # fresh single-use numbers, the same dataset pseudonyms after exchange.
                case_id, event = case.id, "case.follow-up"
            for number, kind in ((vng, DataKind.GENOMIC), (vnk, DataKind.CLINICAL)):
                sql.insert_vorgangsnummer(conn, digest=_digest(number), case_id=case_id,
                                          kind=kind.value, issued_us=now_us,
                                          expires_us=expires_us)
            self.audit.append(event, actor, {"case": case_id, "ik": ik, "mode": mode}, conn=conn)
        return Registration(case_id, vng, vnk, _from_us(expires_us), mode,
                            event == "case.registered")

    # --- PseudonymService -------------------------------------------------------------------

    def exchange(self, vorgangsnummer: str, domain: str, actor: str = "") -> DatasetPseudonym:
        """Trade a Vorgangsnummer for the dataset pseudonym in the node's domain, once."""
        node = Domain.parse(domain)
        number = validate_transfer_number(vorgangsnummer)
        digest = _digest(number)
        actor = actor or str(node)
        now_us = self._clock_us()
        try:
            with write_transaction(self.engine) as conn:
                row = sql.lock_vorgangsnummer(conn, digest)
                if row is None:
                    raise UnknownVorgangsnummer("this Vorgangsnummer is not known")
                kind = DataKind(row.kind)
                if _NODE_KIND[kind] != node.kind:
                    where = ("clinical data node" if kind == DataKind.CLINICAL
                             else "genome data center")
                    raise WrongNodeKind(f"a {kind.value} Vorgangsnummer is exchanged at a {where}")
                if row.used_us is not None:
                    raise VorgangsnummerUsed("this Vorgangsnummer was already used")
                if now_us > row.expires_us:
                    raise VorgangsnummerExpired("this Vorgangsnummer has expired")
                if not sql.mark_used(conn, digest, now_us, str(node)):
                    raise VorgangsnummerUsed("this Vorgangsnummer was already used")
                version = sql.lock_domain(conn, str(node))
                subject = dataset_subject(row.case_id, kind.value)
                pseudonym = self.keys.pseudonym(node, version, subject)
                sql.insert_pseudonyms(conn, [{
                    "domain": str(node), "version": version, "pseudonym": pseudonym,
                    "subject_type": "dataset", "subject": subject, "case_id": row.case_id,
                    "person_id": None, "created_us": now_us,
                }])
                self.audit.append("vorgangsnummer.used", actor, {
                    "case": row.case_id, "kind": kind.value, "domain": str(node),
                    "pseudonym": pseudonym}, conn=conn)
        except (UnknownVorgangsnummer, WrongNodeKind, VorgangsnummerUsed,
                VorgangsnummerExpired) as exc:
            self.audit.append("vorgangsnummer.refused", actor,
                              {"domain": str(node), "reason": exc.code})
            raise
        return DatasetPseudonym(pseudonym, kind, str(node), f"k{version}")

    def derive(
        self, domain: str, namespace: str, values: Sequence[str], actor: str = ""
    ) -> list[str]:
        """Pseudonyms of local identifiers in a domain; recorded so rotation can re-derive."""
        return self.pseudonymize_identifiers(domain, [(namespace, v) for v in values], actor)

    def pseudonymize_identifiers(
        self, domain: str, identifiers: Sequence[tuple[str, str]], actor: str = ""
    ) -> list[str]:
        """Pseudonyms of (system, value) pairs in a domain, in one transaction."""
        node = Domain.parse(domain)
        if node.kind == DomainKind.TRUST_CENTER:
            raise InvalidIdentifier("the trust center's internal domain is not for nodes")
        if not identifiers:
            return []
        subjects: list[tuple[str, str, str | None]] = []
        for namespace, value in identifiers:
            if not isinstance(namespace, str) or not 1 <= len(namespace) <= 200:
                raise InvalidIdentifier(
                    "the namespace (identifier system) must be 1-200 characters")
            if not isinstance(value, str) or not value:
                raise InvalidIdentifier("identifier values must be non-empty strings")
            subjects.append(self._identifier_subject(namespace, value))
        now_us = self._clock_us()
        with write_transaction(self.engine) as conn:
            version = sql.lock_domain(conn, str(node))
            pseudonyms = self.keys.pseudonyms(node, version, [s for s, _, _ in subjects])
            rows: dict[str, dict[str, Any]] = {}
            for (subject, kind, person), pseudonym in zip(subjects, pseudonyms, strict=True):
                rows[pseudonym] = {
                    "domain": str(node), "version": version, "pseudonym": pseudonym,
                    "subject_type": kind, "subject": subject, "case_id": None,
                    "person_id": person, "created_us": now_us,
                }
            sql.insert_pseudonyms(conn, list(rows.values()))
            self.audit.append("pseudonym.issued", actor or str(node),
                              {"domain": str(node), "count": len(rows), "key": f"k{version}"},
                              conn=conn)
        return pseudonyms

    def _identifier_subject(self, namespace: str, value: str) -> tuple[str, str, str | None]:
        if namespace in KVNR_SYSTEMS:
            try:
                person = self.keys.subject_id("kvnr", validate_kvnr(value))
                return person_subject(person), "person", person
            except InvalidIdentifier:
                pass  # not a valid KVNR: still never stored, pseudonymised as a plain identifier
        return identifier_subject(self.keys.subject_id(namespace, value)), "identifier", None

    def lookup(self, domain: str, pseudonym: str) -> PseudonymInfo:
        """What is known of a pseudonym of this domain, with its current-key equivalent."""
        node = Domain.parse(domain)
        parse_pseudonym(pseudonym)
        with self.engine.connect() as conn:
            row = sql.find_pseudonym(conn, str(node), pseudonym)
            if row is None:
                raise UnknownPseudonym("this domain has no such pseudonym")
            version = sql.domain_version(conn, str(node))
        current = (pseudonym if row.version == version
                   else self.keys.pseudonym(node, version, row.subject))
        return PseudonymInfo(pseudonym, str(node), f"k{row.version}", current, row.subject_type)

    def rotate_key(self, domain: str, actor: str) -> Rotation:
        """Move a domain to its next key version, re-deriving every pseudonym issued in it."""
        node = Domain.parse(domain)
        now_us = self._clock_us()
        with write_transaction(self.engine) as conn:
            old = sql.lock_domain(conn, str(node))
            new = old + 1
            rows = sql.subjects_of_domain(conn, str(node), old)
            fresh = self.keys.pseudonyms(node, new, [r.subject for r in rows])
            sql.insert_pseudonyms(conn, [{
                "domain": str(node), "version": new, "pseudonym": p,
                "subject_type": r.subject_type, "subject": r.subject, "case_id": r.case_id,
                "person_id": r.person_id, "created_us": now_us,
            } for r, p in zip(rows, fresh, strict=True)])
            sql.set_domain_version(conn, str(node), new, now_us)
            self.audit.append("key.rotated", actor, {"domain": str(node), "from": old,
                                                     "to": new, "count": len(rows)}, conn=conn)
        return Rotation(str(node), old, new, len(rows))

    def project_pseudonyms(
        self, project: str, domain: str, pseudonyms: Sequence[str], actor: str
    ) -> dict[str, str | None]:
        """Person pseudonyms in an approved research project's own domain for a node's
        pseudonyms; None where the subject is unknown or research consent is missing now.

        Two projects get unlinkable pseudonyms for the same person; one person's datasets get
        one pseudonym within a project.
        """
        target = Domain.parse(f"project:{project}")
        node = Domain.parse(domain)
        out: dict[str, str | None] = {}
        rows: list[dict[str, Any]] = []
        now_us = self._clock_us()
        with write_transaction(self.engine) as conn:
            version = sql.lock_domain(conn, str(target))
            for pseudonym in pseudonyms:
                row, cases = self._resolve(conn, node, pseudonym)
                person = None
                if row is not None and cases:
                    case = sql.get_case(conn, cases[0])
                    person = row.person_id or (case.person_id if case else None)
                if person is None or not self._research_allowed(conn, cases):
                    out[pseudonym] = None
                    continue
                subject = person_subject(person)
                value = self.keys.pseudonym(target, version, subject)
                out[pseudonym] = value
                rows.append({"domain": str(target), "version": version, "pseudonym": value,
                             "subject_type": "person", "subject": subject, "case_id": None,
                             "person_id": person, "created_us": now_us})
            sql.insert_pseudonyms(conn, rows)
            self.audit.append("project.pseudonyms", actor, {
                "project": str(target), "domain": str(node), "asked": len(out),
                "issued": len(rows)}, conn=conn)
        return out

    def _research_allowed(self, conn: Connection, cases: list[str]) -> bool:
        now = self.now()
        statements, consents = self._consent_of(conn, cases)
        return all(consent_rules.decide(Purpose.RESEARCH, now, now, statements.get(c, []),
                                        consents.get(c, [])).allowed for c in cases)

    def translate(self, domain: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """Pseudonym -> its equivalent under the domain's current key, for a node re-keying
        its stored data after a rotation; unknown pseudonyms are left out."""
        node = Domain.parse(domain)
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            version = sql.domain_version(conn, str(node))
            for pseudonym in pseudonyms:
                row = sql.find_pseudonym(conn, str(node), pseudonym)
                if row is not None:
                    out[pseudonym] = (pseudonym if row.version == version
                                      else self.keys.pseudonym(node, version, row.subject))
        return out

    def link(
        self, from_domain: str, to_domain: str, pseudonyms: Sequence[str], actor: str = ""
    ) -> dict[str, list[str]]:
        """The pseudonyms already issued in ``to_domain`` for the subject of each pseudonym of
        ``from_domain``: the datasets of the same case and the same person's pseudonym (e.g. a
        genome data center's donor -> the clinical data node's Patient). Only issued
        pseudonyms are answered (nothing new is derived); unknown ones map to []. Audited."""
        source, target = Domain.parse(from_domain), Domain.parse(to_domain)
        if DomainKind.TRUST_CENTER in (source.kind, target.kind) or \
                target.kind == DomainKind.RESEARCH_PROJECT:
            raise InvalidIdentifier("pseudonyms link only between node domains; research "
                                    "projects get theirs with consent (project pseudonyms)")
        with write_transaction(self.engine) as conn:
            rows = sql.find_pseudonyms(conn, str(source), pseudonyms)
            case_persons = sql.persons_of_cases(
                conn, [r.case_id for r in rows.values() if r.case_id])
            persons_cases = sql.cases_of_persons(
                conn, [r.person_id for r in rows.values() if r.person_id])
            subjects: dict[str, tuple[set[str], str | None]] = {}
            for value, row in rows.items():
                person = row.person_id or case_persons.get(row.case_id or "")
                cases = {row.case_id} if row.case_id else set(
                    persons_cases.get(row.person_id or "", []))
                subjects[value] = (cases, person)
            found = sql.pseudonyms_of_subjects(
                conn, str(target), sorted({c for cs, _ in subjects.values() for c in cs}),
                sorted({p for _, p in subjects.values() if p}))
            out: dict[str, list[str]] = {}
            for value in dict.fromkeys(pseudonyms):
                cases, person = subjects.get(value, (set(), None))
                out[value] = [t.pseudonym for t in found
                              if (t.case_id is not None and t.case_id in cases)
                              or (person is not None and t.person_id == person)]
            self.audit.append("pseudonym.linked", actor or str(source), {
                "from": str(source), "to": str(target), "asked": len(out),
                "linked": sum(1 for v in out.values() if v)}, conn=conn)
        return out

    def translate_to_project(
        self, domain: str, project: str, pseudonyms: Sequence[str], actor: str = ""
    ) -> dict[str, str]:
        """Known pseudonyms of a node's domain -> pseudonyms of the same subjects in a research
        project's domain (what a node shows the project's researchers); unknown ones are left
        out. New project pseudonyms are recorded (so the project domain can look them up and a
        key rotation re-derives them) and their issue is audited, in one transaction; asking
        again for ones on record is a read."""
        node, target = Domain.parse(domain), Domain.parse(project)
        if node.kind not in (DomainKind.CLINICAL_DATA_NODE, DomainKind.GENOME_DATA_CENTER):
            raise InvalidIdentifier("only a clinical data node's or a genome data center's "
                                    "pseudonyms are translated into a project's domain")
        if target.kind != DomainKind.RESEARCH_PROJECT:
            raise InvalidIdentifier("pseudonyms are translated only into a research project's "
                                    "domain (project:<id>)")
        wanted = [p for p in dict.fromkeys(pseudonyms) if isinstance(p, str)]
        if not wanted:
            return {}
        # Every read of a researcher asks this: answered from a read-only snapshot when all
        # the project pseudonyms are already on record (issuing new ones is the event audited).
        with self.engine.connect() as conn:
            found = sql.find_pseudonyms(conn, str(node), wanted)
            version = sql.domain_version(conn, str(target))
            out = self._project_values(target, version, wanted, found)
            recorded = sql.find_pseudonyms(conn, str(target), list(out.values()))
        if all(v in recorded and recorded[v].version == version for v in out.values()):
            return out
        now_us = self._clock_us()
        with write_transaction(self.engine) as conn:
            found = sql.find_pseudonyms(conn, str(node), wanted)
            version = sql.lock_domain(conn, str(target))
            out = self._project_values(target, version, wanted, found)
            rows = [{"domain": str(target), "version": version, "pseudonym": value,
                     "subject_type": found[source].subject_type,
                     "subject": found[source].subject, "case_id": found[source].case_id,
                     "person_id": found[source].person_id, "created_us": now_us}
                    for source, value in out.items()]
            sql.insert_pseudonyms(conn, rows)
            self.audit.append("pseudonym.project-view", actor or str(node), {
                "domain": str(node), "project": str(target), "asked": len(wanted),
                "translated": len(out), "key": f"k{version}"}, conn=conn)
        return out

    def _project_values(self, target: Domain, version: int, wanted: Sequence[str],
                        found: Mapping[str, sql.PseudonymRow]) -> dict[str, str]:
        known = [p for p in wanted if p in found]
        fresh = self.keys.pseudonyms(target, version, [found[p].subject for p in known])
        return dict(zip(known, fresh, strict=True))

    # --- resolving pseudonyms to cases ---------------------------------------------------------

    def _resolve(self, conn: Connection, node: Domain, pseudonym: str) -> tuple[
            sql.PseudonymRow | None, list[str]]:
        row = sql.find_pseudonym(conn, str(node), pseudonym)
        if row is None:
            return None, []
        if row.subject_type == "dataset" and row.case_id:
            return row, [row.case_id]
        if row.subject_type == "person" and row.person_id:
            return row, sql.cases_of_person(conn, row.person_id)
        return row, []

    # --- ConsentService ------------------------------------------------------------------------

    def may_use(
        self,
        domain: str,
        pseudonym: str,
        purpose: Purpose,
        on: date | datetime | None = None,
    ) -> ConsentDecision:
        """Default deny: every case behind the pseudonym must permit the purpose."""
        try:
            node = Domain.parse(domain)
            purpose = Purpose(purpose)
        except (InvalidIdentifier, ValueError):
            return ConsentDecision(False, "unknown domain or purpose")
        now = self.now()
        with self.engine.connect() as conn:
            _, cases = self._resolve(conn, node, pseudonym)
            if not cases:
                return ConsentDecision(False, "no case with consent is known for this pseudonym")
            statements, consents = self._consent_of(conn, cases)
        for case in cases:
            decision = consent_rules.decide(purpose, on or now, now, statements.get(case, []),
                                            consents.get(case, []))
            if not decision.allowed:
                return decision
        return ConsentDecision(True, "permitted")

    def permitted(
        self,
        domain: str,
        pseudonyms: Sequence[str],
        purpose: Purpose,
        on: date | datetime | None = None,
    ) -> frozenset[str]:
        """The pseudonyms among ``pseudonyms`` whose data may be used for ``purpose`` (batch
        form of :meth:`may_use` for filtering result sets; default deny)."""
        try:
            node = Domain.parse(domain)
            purpose = Purpose(purpose)
        except (InvalidIdentifier, ValueError):
            return frozenset()
        now = self.now()
        evaluated = self._evaluate(node, pseudonyms, purpose, on or now, now, horizon=False)
        return frozenset(value for value, status in evaluated.items() if status.allowed)

    def consent_status(
        self, domain: str, pseudonyms: Sequence[str], purpose: Purpose
    ) -> dict[str, ConsentStatus]:
        """Each pseudonym's answer for ``purpose`` now and the moment it may change."""
        try:
            node = Domain.parse(domain)
            purpose = Purpose(purpose)
        except (InvalidIdentifier, ValueError):
            return {p: ConsentStatus(False) for p in pseudonyms}
        now = self.now()
        evaluated = self._evaluate(node, pseudonyms, purpose, now, now, horizon=True)
        return {p: evaluated.get(p, ConsentStatus(False)) for p in pseudonyms}

    def consent_changes(self, domain: str, since: int, limit: int = 1000) -> ConsentChanges:
        """The domain's pseudonyms whose consent changed after feed position ``since``."""
        node = Domain.parse(domain)
        with self.engine.connect() as conn:
            if limit <= 0:
                head = sql.consent_head(conn)
                return ConsentChanges(head, frozenset(), head > since)
            rows = sql.consent_changes_since(conn, since, limit + 1)
            page = rows[:limit]
            if not page:
                # Below ``since`` if this feed restarted (a restored database): the consumer
                # then knows its position is meaningless and starts over.
                return ConsentChanges(min(since, sql.consent_head(conn)), frozenset(), False)
            pseudonyms = sql.pseudonyms_of_cases(conn, str(node), [c for _s, c in page])
        return ConsentChanges(page[-1][0], frozenset(pseudonyms), len(rows) > limit)

    def _evaluate(self, node: Domain, pseudonyms: Sequence[str], purpose: Purpose,
                  on: date | datetime, now: datetime, *, horizon: bool
                  ) -> dict[str, ConsentStatus]:
        """Known pseudonyms -> decision (every case behind one must permit) and, with
        ``horizon``, the first moment after ``now`` when any of its cases may change."""
        with self.engine.connect() as conn:
            rows = sql.find_pseudonyms(conn, str(node), pseudonyms)
            persons = sql.cases_of_persons(conn, [
                r.person_id for r in rows.values()
                if r.subject_type == "person" and r.person_id])
            cases_of: dict[str, list[str]] = {}
            for value, row in rows.items():
                if row.subject_type == "dataset" and row.case_id:
                    cases_of[value] = [row.case_id]
                elif row.subject_type == "person" and row.person_id:
                    cases_of[value] = persons.get(row.person_id, [])
            all_cases = sorted({c for cases in cases_of.values() for c in cases})
            statements: dict[str, list[ParticipationStatement]] = {}
            consents: dict[str, list[dict[str, Any]]] = {}
            for start in range(0, len(all_cases), 500):
                s, c = self._consent_of(conn, all_cases[start:start + 500])
                statements.update(s)
                consents.update(c)
        allowed_case: dict[str, bool] = {}
        until_case: dict[str, datetime | None] = {}
        for case in all_cases:
            st, bc = statements.get(case, []), consents.get(case, [])
            allowed_case[case] = consent_rules.decide(purpose, on, now, st, bc).allowed
            if horizon:
                until_case[case] = consent_rules.next_change(st, bc, now)
        out: dict[str, ConsentStatus] = {}
        for value, cases in cases_of.items():
            untils = [u for c in cases if (u := until_case.get(c)) is not None]
            out[value] = ConsentStatus(bool(cases) and all(allowed_case[c] for c in cases),
                                       min(untils, default=None))
        return out

    def _consent_of(self, conn: Connection, cases: list[str]) -> tuple[
            dict[str, list[ParticipationStatement]], dict[str, list[dict[str, Any]]]]:
        statements: dict[str, list[ParticipationStatement]] = {}
        for case_id, scope, status, declared_on, recorded_us in sql.participation_of(conn, cases):
            statements.setdefault(case_id, []).append(ParticipationStatement(
                ParticipationScope(scope), ScopeStatus(status), declared_on, _from_us(recorded_us)))
        consents: dict[str, list[dict[str, Any]]] = {}
        for case_id, resource in sql.broad_consents_of(conn, cases):
            consents.setdefault(case_id, []).append(resource)
        return statements, consents

    def _single_case(self, conn: Connection, node: Domain, pseudonym: str) -> str:
        row, cases = self._resolve(conn, node, pseudonym)
        if row is None:
            raise UnknownPseudonym("this domain has no such pseudonym")
        if len(cases) != 1:
            raise UnknownPseudonym("this pseudonym does not name exactly one case")
        return cases[0]

    def record_participation(
        self,
        domain: str,
        pseudonym: str,
        declarations: Sequence[ParticipationDeclaration],
        actor: str = "",
    ) -> None:
        """Store statements of a Teilnahmeerklärung for the case behind a dataset pseudonym."""
        node = Domain.parse(domain)
        if not declarations:
            raise InvalidIdentifier("a participation declaration needs at least one scope")
        rows: list[dict[str, Any]] = []
        now_us = self._clock_us()
        for d in declarations:
            scope, status = ParticipationScope(d.scope), ScopeStatus(d.status)
            if not isinstance(d.date, date) or isinstance(d.date, datetime):
                raise InvalidIdentifier("each scope needs the date it was declared on")
            rows.append({"scope": scope.value, "status": status.value, "declared_on": d.date,
                         "recorded_us": now_us})
        with write_transaction(self.engine) as conn:
            case_id = self._single_case(conn, node, pseudonym)
            for row in rows:
                row["case_id"] = case_id
            sql.insert_participation(conn, rows)
            sql.log_consent_change(conn, [case_id], now_us)
            self.audit.append("consent.participation", actor or str(node), {
                "case": case_id,
                "scopes": [f"{r['scope']}={r['status']}@{r['declared_on'].isoformat()}"
                           for r in rows]}, conn=conn)

    def record_broad_consent(
        self, domain: str, pseudonym: str, consent: Mapping[str, Any], actor: str = ""
    ) -> str:
        """Validate and store an MII Broad Consent for the case behind a dataset pseudonym."""
        node = Domain.parse(domain)
        stored = consent_rules.validate_broad_consent(consent)
        consent_id = _new_id()
        with write_transaction(self.engine) as conn:
            case_id = self._single_case(conn, node, pseudonym)
            now_us = self._clock_us()
            sql.insert_broad_consent(conn, consent_id, case_id, stored, now_us)
            sql.log_consent_change(conn, [case_id], now_us)
            self.audit.append("consent.broad-consent", actor or str(node), {
                "case": case_id, "consent": consent_id, "status": str(stored.get("status")),
                "policies": sorted(str(p.get("uri")) for p in stored.get("policy") or [])},
                conn=conn)
        return consent_id

    # --- corrections (GenDV § 5) ----------------------------------------------------------------

    def request_correction(self, domain: str, pseudonym: str, reason: str, actor: str = "") -> str:
        """A node asks the hospital for a correction of the dataset behind its pseudonym."""
        node = Domain.parse(domain)
        if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 500:
            raise InvalidIdentifier("the reason must be 1 to 500 characters")
        correction_id = _new_id()
        with write_transaction(self.engine) as conn:
            row = sql.find_pseudonym(conn, str(node), pseudonym)
            if row is None or row.subject_type != "dataset" or row.case_id is None:
                raise UnknownPseudonym("this domain has no such dataset pseudonym")
            case = sql.get_case(conn, row.case_id)
            assert case is not None
            kind = row.subject.rsplit(":", 1)[1]
            sql.insert_correction(conn, id=correction_id, case_id=case.id, ik=case.ik, kind=kind,
                                  reason=reason.strip(), requested_by=str(node),
                                  created_us=self._clock_us())
            self.audit.append("correction.requested", actor or str(node), {
                "case": case.id, "correction": correction_id, "kind": kind}, conn=conn)
        return correction_id

    def fetch_corrections(self, ik: str, actor: str) -> list[Correction]:
        """The hospital's pending corrections, by Arbeitsnummer; marked delivered."""
        validate_ik(ik)
        out = []
        with write_transaction(self.engine) as conn:
            rows = sql.pending_corrections(conn, ik)
            for r in rows:
                case = sql.get_case(conn, r.case_id)
                assert case is not None
                number = self.keys.decrypt_arbeitsnummer(case.id, case.ik, case.arbeitsnummer_enc)
                out.append(Correction(r.id, number, r.kind, r.reason, _from_us(r.created_us)))
            sql.mark_corrections_delivered(conn, [r.id for r in rows], self._clock_us())
            if rows:
                self.audit.append("correction.delivered", actor,
                                  {"ik": ik, "corrections": [r.id for r in rows]}, conn=conn)
        return out

    # --- re-identification (§ 64e Abs. 9c S. 7) -----------------------------------------------

    def request_reidentification(
        self,
        *,
        domain: str,
        pseudonym: str,
        purpose: Purpose,
        hospital_ik: str,
        requested_by: str,
        justification: str,
    ) -> str:
        """Open a request; refused unless the matching consent scope is permitted now."""
        node = Domain.parse(domain)
        try:
            purpose = Purpose(purpose)
        except ValueError:
            raise InvalidIdentifier(
                "purpose must be caseIdentification or reIdentification") from None
        if purpose not in REIDENTIFICATION_PURPOSES:
            raise InvalidIdentifier("re-identification is only for caseIdentification or "
                                    "reIdentification (care-relevant finding)")
        validate_ik(hospital_ik)
        if not isinstance(justification, str) or not 1 <= len(justification.strip()) <= 1000:
            raise InvalidIdentifier("the justification must be 1 to 1000 characters")
        request_id = _new_id()
        now = self.now()
        with write_transaction(self.engine) as conn:
            _, cases = self._resolve(conn, node, pseudonym)
            cases_here = [c for c in cases
                          if (case := sql.get_case(conn, c)) is not None and case.ik == hospital_ik]
            if len(cases_here) != 1:
                refused = "unknown" if not cases else "not-this-hospital"
            else:
                statements, consents = self._consent_of(conn, cases_here)
                decision = consent_rules.decide(purpose, now, now,
                                                statements.get(cases_here[0], []),
                                                consents.get(cases_here[0], []))
                refused = "" if decision.allowed else "consent"
            if not refused:
                sql.insert_reid_request(
                    conn, id=request_id, case_id=cases_here[0], domain=str(node),
                    purpose=purpose.value, hospital_ik=hospital_ik, requested_by=requested_by,
                    justification=justification.strip(), status="pending",
                    created_us=self._clock_us())
                self.audit.append("reidentification.requested", requested_by, {
                    "request": request_id, "case": cases_here[0], "purpose": purpose.value,
                    "ik": hospital_ik}, conn=conn)
        if refused:
            self.audit.append("reidentification.refused", requested_by, {
                "purpose": purpose.value, "ik": hospital_ik, "reason": refused})
            if refused == "consent":
                raise ConsentMissing(
                    f"the participation declaration does not permit {purpose.value}")
            if refused == "unknown":
                raise UnknownPseudonym("this domain has no such pseudonym")
            raise UnknownPseudonym("no case of this hospital is known under this pseudonym")
        return request_id

    def approve_reidentification(self, request_id: str, approver: str) -> ReidentificationRequest:
        """One approval; the second approval by a different person approves the request."""
        if not approver:
            raise DualControlViolation("approvals need an identified approver")
        with write_transaction(self.engine) as conn:
            row = sql.lock_reid_request(conn, request_id)
            if row is None:
                raise UnknownRequest("no such re-identification request")
            if row.status != "pending":
                raise ReidentificationNotApproved(f"the request is {row.status}, not pending")
            if approver == row.requested_by:
                raise DualControlViolation("the requester cannot approve their own request")
            approvers = sql.approvers_of(conn, request_id)
            if approver in approvers:
                raise DualControlViolation("a second approval must come from a different person")
            sql.insert_approval(conn, request_id, approver, self._clock_us())
            approvers.append(approver)
            if len(approvers) >= APPROVALS_NEEDED:
                sql.set_reid_status(conn, request_id, "approved")
            self.audit.append("reidentification.approved", approver, {
                "request": request_id, "approvals": len(approvers)}, conn=conn)
            row = sql.reid_request(conn, request_id)
        return _request(row, approvers)

    def reject_reidentification(self, request_id: str, actor: str) -> None:
        """An approver turns a pending request down."""
        with write_transaction(self.engine) as conn:
            row = sql.lock_reid_request(conn, request_id)
            if row is None:
                raise UnknownRequest("no such re-identification request")
            if row.status not in ("pending", "approved"):
                raise ReidentificationNotApproved(f"the request is {row.status}")
            sql.set_reid_status(conn, request_id, "refused", self._clock_us())
            self.audit.append("reidentification.rejected", actor, {"request": request_id},
                              conn=conn)

    def answer_reidentification(self, request_id: str, hospital_ik: str, actor: str) -> str:
        """The Arbeitsnummer, to the hospital that registered the case, once both approved."""
        validate_ik(hospital_ik)
        now = self.now()
        with write_transaction(self.engine) as conn:
            row = sql.lock_reid_request(conn, request_id)
            if row is None:
                raise UnknownRequest("no such re-identification request")
            if row.hospital_ik != hospital_ik:
                raise UnknownRequest("no such re-identification request for this hospital")
            if row.status != "approved":
                raise ReidentificationNotApproved(
                    f"the request is {row.status}; it needs {APPROVALS_NEEDED} approvals")
            approvers = sql.approvers_of(conn, request_id)
            if len(set(approvers) - {row.requested_by}) < APPROVALS_NEEDED:
                raise DualControlViolation("the request lacks two different approvers")
            statements, consents = self._consent_of(conn, [row.case_id])
            decision = consent_rules.decide(Purpose(row.purpose), now, now,
                                            statements.get(row.case_id, []),
                                            consents.get(row.case_id, []))
            case = sql.get_case(conn, row.case_id)
            assert case is not None
            if decision.allowed:
                number = self.keys.decrypt_arbeitsnummer(case.id, case.ik, case.arbeitsnummer_enc)
                sql.set_reid_status(conn, request_id, "answered", self._clock_us())
                self.audit.append("reidentification.answered", actor, {
                    "request": request_id, "case": case.id, "ik": hospital_ik}, conn=conn)
                return number
            sql.set_reid_status(conn, request_id, "refused", self._clock_us())
            self.audit.append("reidentification.refused", actor, {
                "request": request_id, "reason": "consent-withdrawn"}, conn=conn)
        raise ConsentMissing("the consent for this re-identification was withdrawn")

    def reidentification_requests(self, status: str | None = None) -> list[ReidentificationRequest]:
        """Requests for operators, newest first."""
        with self.engine.connect() as conn:
            rows = sql.reid_requests(conn, status)
            return [_request(r, sql.approvers_of(conn, r.id)) for r in rows]


def _request(row: Any, approvers: Sequence[str]) -> ReidentificationRequest:
    return ReidentificationRequest(
        id=row.id, purpose=row.purpose, domain=row.domain, hospital_ik=row.hospital_ik,
        requested_by=row.requested_by, status=row.status, approvers=tuple(approvers),
        created=_from_us(row.created_us))
