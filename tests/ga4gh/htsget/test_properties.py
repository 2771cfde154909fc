"""Property: for random region sets, the ticket's records are exactly pysam's records of the
regions (BAM, BCF, VCF; htslib-blocked and re-blocked files)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.context import AppContext
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.htsget.core.request import Query, Region
from ga4gh.htsget.core.tickets import Inline
from ga4gh.htsget.service import HtsgetService
from tests.ga4gh.genomic_data import CONTIGS, GenomicFiles

LENGTHS = dict(CONTIGS)
region = st.sampled_from(list(LENGTHS)).flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.integers(0, LENGTHS[name] + 100),
        st.integers(1, 5000),
    )
)


def _blob(service: HtsgetService, obj, query: Query) -> bytes:
    ticket = service.ticket(obj, query)
    return b"".join(
        p.data if isinstance(p, Inline) else service.store.read_range(obj.storage_key, p.start,
                                                                      p.end)
        for p in ticket.parts
    )


@pytest.mark.parametrize(("attr", "endpoint", "fmt"),
                         [("bam", "reads", "BAM"), ("vcf", "variants", "VCF"),
                          ("bcf", "variants", "BCF"), ("odd-bam", "reads", "BAM"),
                          ("odd-bcf", "variants", "BCF"), ("csi-bam", "reads", "BAM"),
                          ("csi-vcf", "variants", "VCF")])
def test_random_regions(ctx: AppContext, genomic_files: GenomicFiles,
                        reblocked: tuple[Path, Path], csi_indexed: tuple[Path, Path],
                        attr: str, endpoint: str, fmt: str) -> None:
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    service = ctx.get(HtsgetService)
    source = {"odd-bam": reblocked[0], "odd-bcf": reblocked[1], "csi-bam": csi_indexed[0],
              "csi-vcf": csi_indexed[1]}.get(attr) or getattr(genomic_files, attr)
    obj = catalogue.add(f"prop-{attr}", source)
    if attr.startswith("csi-"):
        assert obj.index_format is not None and obj.index_format.value == "CSI"
    reads = endpoint == "reads"

    def records(path: Path, regions: list[tuple[str, int, int]] | None) -> list[str]:
        if reads:
            with pysam.AlignmentFile(str(path), check_sq=False) as f:
                if regions is None:
                    return [r.to_string() for r in f.fetch(until_eof=True)]
                wanted: set[str] = set()
                for name, start, end in regions:
                    wanted |= {r.to_string() for r in f.fetch(name, start, end)}
                return [r.to_string() for r in pysam.AlignmentFile(
                    str(source)).fetch(until_eof=True) if r.to_string() in wanted]
        with pysam.VariantFile(str(path)) as f:
            if regions is None:
                return [str(r) for r in f]
            wanted_v: set[str] = set()
            for name, start, end in regions:
                wanted_v |= {str(r) for r in f.fetch(name, start, end)}
            return [str(r) for r in pysam.VariantFile(str(source)) if str(r) in wanted_v]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(region, min_size=1, max_size=4))
    def check(regions: list[tuple[str, int, int]]) -> None:
        spans = [(n, s, s + w) for n, s, w in regions]
        query = Query(endpoint, fmt, False, tuple(Region(n, s, e) for n, s, e in spans))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"blob.{fmt.lower()}"
            out.write_bytes(_blob(service, obj, query))
            assert records(out, None) == records(source, spans)

    try:
        check()
    finally:
        catalogue.remove(obj.id)
