"""Adapters from the intake's ports to the other components' ports (found on the AppContext)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from ga4gh.grz.ports import CatalogueEntry

_KIND = {"aligned_reads": "reads", "variant_calls": "variants"}


def _indexable(entry: CatalogueEntry) -> tuple[Path, bool]:
    """The file as the catalogue can index it: plain or plain-gzip VCF is re-compressed as
    BGZF (SAMv1 section 4.1), which tabix/CSI indexing needs; other files are used as they are.
    Returns the path and whether it is a converted copy."""
    from ga4gh.catalogue.core.formats import is_bgzf

    if entry.kind != "variant_calls":
        return entry.path, False
    with open(entry.path, "rb") as fh:
        head = fh.read(64)
    if is_bgzf(head):
        return entry.path, False
    import gzip

    import pysam

    target = entry.path.with_name(entry.path.name.removesuffix(".gz") + ".bgz.vcf.gz")
    if head[:2] == b"\x1f\x8b":
        plain = entry.path.with_name(entry.path.name + ".plain")
        with gzip.open(entry.path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        pysam.tabix_compress(str(plain), str(target), force=True)
        plain.unlink()
    else:
        pysam.tabix_compress(str(entry.path), str(target), force=True)
    return target, True


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
        source, converted = _indexable(entry)
        try:
            obj = self.catalogue.add(
                object_id,
                source,
                kind=Kind(_KIND[entry.kind]),
                dataset=entry.dataset_pseudonym,
                donor_pseudonym=donor,
            )
        finally:
            if converted:
                source.unlink(missing_ok=True)
        if not converted and obj.sha256 != entry.sha256:
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
