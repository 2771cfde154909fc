"""Adapters from the intake's ports to the other components' ports (found on the AppContext)."""

from __future__ import annotations

import hashlib
from typing import Any

from ga4gh.grz.ports import CatalogueEntry

_KIND = {"aligned_reads": "reads", "variant_calls": "variants"}


def _object_prefix(tag: str) -> str:
    # Catalogue ids reveal nothing about the submission; the prefix lets leftovers be found.
    return "grz-" + hashlib.sha256(tag.encode()).hexdigest()[:16] + "-"


class GenomicCatalogueRegistrar:
    """CatalogueRegistrar on the genomics component's GenomicCatalogue port."""

    def __init__(self, catalogue: Any) -> None:
        self.catalogue = catalogue

    def register(self, entry: CatalogueEntry) -> str:
        from ga4gh.catalogue.core.model import Kind

        object_id = _object_prefix(entry.tag) + entry.sha256[:12]
        donor = (
            entry.dataset_pseudonym
            if entry.donor_pseudonym == "index"
            else f"{entry.dataset_pseudonym}.{entry.donor_pseudonym}"
        )
        if self.catalogue.get(object_id) is not None:
            self.catalogue.remove(object_id)
        obj = self.catalogue.add(
            object_id,
            entry.path,
            kind=Kind(_KIND[entry.kind]),
            dataset=entry.dataset_pseudonym,
            donor_pseudonym=donor,
        )
        if obj.sha256 != entry.sha256:
            self.catalogue.remove(object_id)
            raise RuntimeError("the catalogue stored other bytes than the intake verified")
        return str(obj.id)

    def remove_tagged(self, tag: str, dataset_pseudonym: str | None) -> int:
        if dataset_pseudonym is None:
            return 0  # nothing is registered before the pseudonym is known
        prefix = _object_prefix(tag)
        gone = 0
        for obj in self.catalogue.list(dataset=dataset_pseudonym):
            if obj.id.startswith(prefix) and self.catalogue.remove(obj.id):
                gone += 1
        return gone


class PseudonymServiceTanExchange:
    """TanExchange on the trust center's PseudonymService (domain ``grz:<GRZ id>``)."""

    def __init__(self, service: Any, genomic_data_center_id: str) -> None:
        self.service = service
        self.domain = f"grz:{genomic_data_center_id}"

    def exchange(self, tan_g: str) -> str:
        from ga4gh.grz.core.errors import DuplicateTan, TanRefused
        from trust_center.core.errors import (
            UnknownVorgangsnummer,
            VorgangsnummerExpired,
            VorgangsnummerUsed,
            WrongNodeKind,
        )

        try:
            return str(self.service.exchange(tan_g.lower(), self.domain).pseudonym)
        except VorgangsnummerUsed:
            raise DuplicateTan("the trust center refused the tanG as already used") from None
        except (UnknownVorgangsnummer, VorgangsnummerExpired, WrongNodeKind) as exc:
            raise TanRefused(exc.message) from None
