"""Session fixtures of the genome data center tests: genomic files made with pysam."""

from __future__ import annotations

import pytest

from tests.ga4gh.genomic_data import GenomicFiles, make_genomic_files


@pytest.fixture(scope="session")
def genomic_files(tmp_path_factory: pytest.TempPathFactory) -> GenomicFiles:
    """BAM, CRAM, VCF, BCF and FASTA with their indexes (read-only for tests: copy first)."""
    return make_genomic_files(tmp_path_factory.mktemp("genomic"))
