"""Fixtures of the htsget tests: the generated files catalogued under fixed ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.context import AppContext
from ga4gh.catalogue.ports import GenomicCatalogue
from tests.ga4gh.genomic_data import GenomicFiles

IDS = {"bam": "reads-bam", "cram": "reads-cram", "vcf": "vars-vcf", "bcf": "vars-bcf"}


@pytest.fixture()
def catalogued(ctx: AppContext, genomic_files: GenomicFiles) -> Iterator[dict[str, str]]:
    """The BAM, CRAM, VCF and BCF test files in the catalogue (dataset ``ds1``)."""
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    for attr, object_id in IDS.items():
        catalogue.add(object_id, getattr(genomic_files, attr), dataset="ds1")
    yield IDS
    for object_id in IDS.values():
        catalogue.remove(object_id)
