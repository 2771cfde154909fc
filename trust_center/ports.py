"""Ports other components use to reach the trust center (in-process or over HTTP).

Find them on the AppContext: ``ctx.find(PseudonymService)``, ``ctx.find(ConsentService)``.
Without ``GENOMSEQ_TRUST_CENTER_URL`` the implementations run in-process against the trust
center's own database; with it, HTTP adapters talk to the separate trust center deployment and
the node never opens the trust center's database.

Domains are strings ``kdk:<clinical data node id>``, ``grz:<genome data center id>`` or
``project:<research project id>``; pseudonyms are ``k<key version>.<32 hex>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from trust_center.core.consent import ConsentDecision, ParticipationScope, Purpose, ScopeStatus
from trust_center.core.identifiers import DataKind


@dataclass(frozen=True)
class DatasetPseudonym:
    """What a node receives for a Vorgangsnummer: the pseudonym to store the dataset under."""

    pseudonym: str
    kind: DataKind  # genomic (Genomdatensatzpseudonym) or clinical (Klinikdatensatzpseudonym)
    domain: str
    key_id: str  # "k<version>", also the pseudonym's prefix


@dataclass(frozen=True)
class PseudonymInfo:
    """What the trust center tells a domain about one of its pseudonyms."""

    pseudonym: str
    domain: str
    key_id: str
    # The pseudonym of the same subject under the domain's current key (equal unless rotated).
    current: str
    subject_type: str  # "dataset", "person" or "identifier"


@dataclass(frozen=True)
class ParticipationDeclaration:
    """One scope of a Teilnahmeerklärung: permitted, denied or cancelled on a date."""

    scope: ParticipationScope
    status: ScopeStatus
    date: date


@dataclass(frozen=True)
class ConsentStatus:
    """A consent answer at the moment of asking, and until when it holds: it may change at
    ``until`` (a dated statement takes effect, a consent period begins or ends) or when a
    new consent change is recorded (see :meth:`ConsentService.consent_changes`); None means
    no scheduled change."""

    allowed: bool
    until: datetime | None = None


@dataclass(frozen=True)
class ConsentChanges:
    """A page of the consent change feed of one domain."""

    seq: int  # the feed position this page reaches; ask again from here
    pseudonyms: frozenset[str]  # the domain's pseudonyms whose consent may have changed
    more: bool  # further changes follow beyond ``seq``


@runtime_checkable
class PseudonymService(Protocol):
    """Pseudonyms for a domain: exchange Vorgangsnummern, derive and look up pseudonyms."""

    def exchange(self, vorgangsnummer: str, domain: str) -> DatasetPseudonym:
        """Trade a Vorgangsnummer (or tanG/tanC) for the dataset pseudonym, once.

        A VNk/tanC is accepted only by a clinical data node (``kdk:``), a VNg/tanG only by a
        genome data center (``grz:``). Raises UnknownVorgangsnummer, VorgangsnummerUsed or
        VorgangsnummerExpired.
        """
        ...

    def derive(self, domain: str, namespace: str, values: Sequence[str]) -> list[str]:
        """Pseudonyms of local identifiers (e.g. namespace = identifier system, values = MRNs).

        The same (namespace, value) always gives the same pseudonym in one domain and
        unlinkable ones across domains; the identifiers themselves are not stored anywhere.
        """
        ...

    def pseudonymize_identifiers(
        self, domain: str, identifiers: Sequence[tuple[str, str]]
    ) -> list[str]:
        """Batch form of :meth:`derive` over (identifier system, value) pairs of any systems.

        KVNRs (system ``http://fhir.de/sid/gkv/kvid-10``) give the person's pseudonym in the
        domain, so a node's patient links to the person's cases and consent.
        """
        ...

    def lookup(self, domain: str, pseudonym: str) -> PseudonymInfo:
        """What the trust center knows of a pseudonym of this domain (UnknownPseudonym if none)."""
        ...

    def translate(self, domain: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """Each known pseudonym -> its equivalent under the domain's current key (after a key
        rotation a node re-keys its stored data with this; unknown ones are left out)."""
        ...

    def link(
        self, from_domain: str, to_domain: str, pseudonyms: Sequence[str]
    ) -> dict[str, list[str]]:
        """Each pseudonym of ``from_domain`` -> the pseudonyms issued in ``to_domain`` for the
        same subject (datasets of the same case, the same person), e.g. a genome data
        center's donor to the clinical data node's Patient of one deployment; [] if none.
        Over HTTP the caller must act in both domains."""
        ...

    def translate_to_project(
        self, domain: str, project: str, pseudonyms: Sequence[str]
    ) -> dict[str, str]:
        """Each known pseudonym of a node's ``domain`` (``kdk:``/``grz:``) -> the pseudonym
        of the same subject in the research project domain ``project`` (``project:<id>``).

        Only the trust center can link the two; pseudonyms of different projects are
        unlinkable to each other and to the node's. Unknown pseudonyms are left out; any other
        source or target domain kind is refused (InvalidIdentifier).
        """
        ...


@runtime_checkable
class ConsentService(Protocol):
    """Consent of the subject behind a pseudonym: record it and ask it, default deny."""

    def may_use(
        self,
        domain: str,
        pseudonym: str,
        purpose: Purpose,
        on: date | datetime | None = None,
    ) -> ConsentDecision:
        """May this pseudonym's data be used for ``purpose`` on ``on`` (default: now)?

        Unknown pseudonyms, missing statements and anything unreadable answer "no".
        """
        ...

    def permitted(
        self,
        domain: str,
        pseudonyms: Sequence[str],
        purpose: Purpose,
        on: date | datetime | None = None,
    ) -> frozenset[str]:
        """Batch form of :meth:`may_use` for filtering result sets: the subset of
        ``pseudonyms`` whose data may be used for ``purpose`` (default deny)."""
        ...

    def consent_status(
        self, domain: str, pseudonyms: Sequence[str], purpose: Purpose
    ) -> dict[str, ConsentStatus]:
        """For each pseudonym: may its data be used for ``purpose`` now, and until when does
        that answer hold (default deny; unknown pseudonyms are "no" with no scheduled change).
        """
        ...

    def consent_changes(self, domain: str, since: int, limit: int = 1000) -> ConsentChanges:
        """The domain's pseudonyms whose consent changed after feed position ``since``
        (at most ``limit`` changes per page). ``limit=0`` only reports the newest position:
        a consumer that just evaluated everything starts there. A ``seq`` below ``since``
        means the feed restarted: the consumer must re-evaluate everything."""
        ...

    def record_participation(
        self, domain: str, pseudonym: str, declarations: Sequence[ParticipationDeclaration]
    ) -> None:
        """Store scopes of a Teilnahmeerklärung (or their withdrawal) for the pseudonym's case."""
        ...

    def record_broad_consent(
        self, domain: str, pseudonym: str, consent: Mapping[str, Any]
    ) -> str:
        """Store an MII Broad Consent (FHIR Consent) for the pseudonym's case; returns its id.

        Raises InvalidConsent if it is not a consent BfArM's model accepts.
        """
        ...


__all__ = [
    "ConsentChanges",
    "ConsentDecision",
    "ConsentService",
    "ConsentStatus",
    "DataKind",
    "DatasetPseudonym",
    "ParticipationDeclaration",
    "ParticipationScope",
    "PseudonymInfo",
    "PseudonymService",
    "Purpose",
    "ScopeStatus",
]
