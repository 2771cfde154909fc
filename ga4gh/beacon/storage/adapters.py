"""Adapters from other components' ports to the Beacon's ports: the genomics catalogue as
a VariantFileSource, the trust center's ConsentService as ResearchConsent and LiveConsent, and
clinical facts of the genome data center's donors found under the clinical data node's
pseudonyms through the trust center's PseudonymService.link."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from ga4gh.beacon.core.ports import (
    ClinicalFact,
    ClinicalFacts,
    ConsentFeedPage,
    ConsentState,
    ReadFile,
    VariantFile,
)

log = logging.getLogger("genomseq.beacon")
_PAGE = 500


class CatalogueVariantFiles:
    """VariantFileSource over ``ga4gh.catalogue.ports.GenomicCatalogue`` (kind variants)."""

    def __init__(self, catalogue: Any, default_dataset: str = "default") -> None:
        self.catalogue = catalogue
        self.default_dataset = default_dataset
        self.skipped = 0

    def _local(self, kind: Any) -> Iterator[tuple[Any, str]]:
        offset = 0
        while True:
            page = self.catalogue.list(kind=kind, limit=_PAGE, offset=offset)
            for obj in page:
                path = self.catalogue.local_path(obj)
                if path is None:
                    # Object stores without local files (S3) would need a download first.
                    self.skipped += 1
                    log.warning("beacon: catalogued file is not on local disk; skipped",
                                extra={"object": obj.id})
                    continue
                yield obj, str(path)
            if len(page) < _PAGE:
                return
            offset += _PAGE

    def variant_files(self) -> Iterator[VariantFile]:
        from ga4gh.catalogue.core.model import Kind

        for obj, path in self._local(Kind.VARIANTS):
            yield VariantFile(id=obj.id, dataset=obj.dataset or self.default_dataset,
                              path=path, donor_pseudonym=obj.donor_pseudonym,
                              format=str(obj.format), reference_digest=obj.reference_digest)

    def read_files(self) -> Iterator[ReadFile]:
        from ga4gh.catalogue.core.model import Kind

        for obj, path in self._local(Kind.READS):
            yield ReadFile(id=obj.id, dataset=obj.dataset or self.default_dataset, path=path,
                           donor_pseudonym=obj.donor_pseudonym, format=str(obj.format),
                           catalogued_on=obj.created.date().isoformat())


class TrustCenterConsent:
    """ResearchConsent and LiveConsent over ``trust_center.ports.ConsentService`` (purpose
    research) in the genome data center's pseudonym domain (``grz:<id>``)."""

    def __init__(self, consent: Any, domain: str) -> None:
        self.consent = consent
        self.domain = domain

    def permitted(self, pseudonyms: Sequence[str], on: dt.date) -> set[str]:
        from trust_center.core.consent import Purpose

        return set(self.consent.permitted(self.domain, pseudonyms, Purpose.RESEARCH, on))

    def status(self, pseudonyms: Sequence[str]) -> dict[str, ConsentState]:
        from trust_center.core.consent import Purpose

        answers = self.consent.consent_status(self.domain, pseudonyms, Purpose.RESEARCH)
        return {p: ConsentState(s.allowed, s.until) for p, s in answers.items()}

    def changes(self, since: int, limit: int = 1000) -> ConsentFeedPage:
        page = self.consent.consent_changes(self.domain, since, limit)
        return ConsentFeedPage(page.seq, frozenset(page.pseudonyms), page.more)


class LinkedClinicalFacts:
    """ClinicalFacts for the index's donors (pseudonyms of the genome data center's domain)
    over facts stored under the clinical data node's pseudonyms: the two domains are
    unlinkable by design, so the trust center names the clinical domain's pseudonyms of the
    same case or person (``PseudonymService.link``); facts found under several are merged."""

    def __init__(self, facts: ClinicalFacts, pseudonyms: Any, from_domain: str,
                 to_domain: str) -> None:
        self.inner = facts
        self.pseudonyms = pseudonyms
        self.from_domain = from_domain
        self.to_domain = to_domain

    def facts(self, pseudonyms: Sequence[str]) -> dict[str, ClinicalFact]:
        links: dict[str, list[str]] = self.pseudonyms.link(
            self.from_domain, self.to_domain, pseudonyms)
        asked = set(pseudonyms) | {t for ts in links.values() for t in ts}
        known = self.inner.facts(sorted(asked))
        out: dict[str, ClinicalFact] = {}
        for p in pseudonyms:
            parts = [known[x] for x in dict.fromkeys([p, *links.get(p, [])]) if x in known]
            if parts:
                out[p] = ClinicalFact(
                    sex=next((f.sex for f in parts if f.sex), None),
                    birth_date=next((f.birth_date for f in parts if f.birth_date), None),
                    diagnoses=tuple(sorted({d for f in parts for d in f.diagnoses})),
                    phenotypes=tuple(sorted({h for f in parts for h in f.phenotypes})))
        return out
