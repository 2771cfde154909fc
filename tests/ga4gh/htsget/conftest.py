"""Fixtures of the htsget tests: the generated files catalogued under fixed ids."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pysam
import pysam.bcftools
import pytest

from config.context import AppContext
from ga4gh.catalogue.core.formats import BGZF_EOF
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.htsget.core.bgzf import compress_block
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
        catalogue.remove(object_id, force=True)


def _reblock(src: Path, dst: Path, step: int) -> None:
    data = gzip.decompress(src.read_bytes())
    dst.write_bytes(
        b"".join(compress_block(data[i : i + step]) for i in range(0, len(data), step))
        + BGZF_EOF
    )


@pytest.fixture(scope="session")
def reblocked(genomic_files: GenomicFiles, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("reblocked")
    bam, bcf = d / "odd.bam", d / "odd.bcf"
    _reblock(genomic_files.bam, bam, 7001)  # records and the header straddle blocks
    _reblock(genomic_files.bcf, bcf, 3333)
    pysam.index(str(bam))
    pysam.bcftools.index(str(bcf))
    return bam, bcf


@pytest.fixture(scope="session")
def csi_indexed(genomic_files: GenomicFiles, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, Path]:
    """The BAM and the VCF with CSI instead of BAI/TBI indexes (htsget must use loffsets)."""
    import shutil

    d = tmp_path_factory.mktemp("csi")
    bam, vcf = d / "csi.bam", d / "csi.vcf.gz"
    shutil.copyfile(genomic_files.bam, bam)
    shutil.copyfile(genomic_files.vcf, vcf)
    pysam.index("-c", "-m", "12", str(bam))
    pysam.tabix_index(str(vcf), preset="vcf", csi=True, force=True)
    return bam, vcf
