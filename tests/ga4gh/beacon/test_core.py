"""Pure core: request parsing, reference names, access policy and disclosure."""

from __future__ import annotations

import pytest

from common.errors import InvalidInput
from ga4gh.beacon.core.access import AccessPolicy, Caller, Disclosure, caller_from
from ga4gh.beacon.core.assemblies import normalise_assembly, resolve_reference_name
from ga4gh.beacon.core.model import Granularity, SecurityLevel
from ga4gh.beacon.core.request import parse_get, parse_post
from ga4gh.beacon.core.variant_types import classify, display_type
from ga4gh.beacon.storage.sql import bin_for, bin_ranges


def test_assembly_aliases() -> None:
    for name in ("GRCh38", "hg38", "GRCh38.p13", "GCF_000001405.40", "GCA_000001405.15"):
        assert normalise_assembly(name) == "GRCh38"
    for name in ("hg19", "GRCh37.p13", "GCF_000001405.25", "b37"):
        assert normalise_assembly(name) == "GRCh37"
    with pytest.raises(InvalidInput):
        normalise_assembly("hg17")


def test_reference_names() -> None:
    none = lambda _k: None  # noqa: E731
    assert resolve_reference_name("chrX", None, "GRCh38", none).chrom == "X"
    assert resolve_reference_name("chrM", None, "GRCh38", none).chrom == "MT"
    r = resolve_reference_name("NC_000023.10", None, "GRCh38", none)
    assert (r.assembly, r.chrom) == ("GRCh37", "X")
    assert resolve_reference_name("chr1_KI270706v1_random", "GRCh38", "GRCh38",
                                  none).chrom == "KI270706.1"
    assert resolve_reference_name("chr1", "GRCh37", "GRCh38", none).assembly == "GRCh37"
    with pytest.raises(InvalidInput, match="GRCh38 sequence"):
        resolve_reference_name("NC_000001.11", "GRCh37", "GRCh38", none)
    with pytest.raises(InvalidInput):
        resolve_reference_name("chr99", None, "GRCh38", none)


def test_query_kinds() -> None:
    kw = {"default_limit": 10, "max_limit": 100}
    q = parse_get("g_variants", {"referenceName": ["1"], "start": ["5"],
                                 "alternateBases": ["a"]}, **kw)
    assert q.variant and q.variant.kind == "sequence" and q.variant.alternate_bases == "A"
    q = parse_get("g_variants", {"referenceName": ["1"], "start": ["5,6"], "end": ["9,10"]}, **kw)
    assert q.variant and q.variant.kind == "bracket" and q.variant.start == (5, 6)
    q = parse_post("g_variants", {"query": {"requestParameters": {"g_variant": {
        "referenceName": "1", "start": [5], "end": [9]}}}}, **kw)
    assert q.variant and q.variant.kind == "range"
    assert q.request_parameters == {"g_variant": {"referenceName": "1", "start": [5],
                                                  "end": [9]}}
    q = parse_get("g_variants", {"geneId": ["BRCA1"], "limit": ["0"], "skip": ["2"]}, **kw)
    assert q.variant and q.variant.kind == "gene"
    assert (q.pagination.limit, q.pagination.offset) == (100, 200)
    for bad in ({"referenceName": ["1"], "start": ["5"], "end": ["5"]},
                {"referenceName": ["1"], "start": ["5,6"], "end": ["9"]},
                {"start": ["5"], "alternateBases": ["A"]},
                {"geneId": ["X"], "referenceName": ["1"]},
                {"referenceName": ["1"], "start": ["1"], "mateName": ["2"]}):
        with pytest.raises(InvalidInput):
            parse_get("g_variants", bad, **kw)


def test_classify() -> None:
    assert classify("A", "G", None) == ("SNP", False)
    assert classify("AT", "GC", None) == ("MNP", False)
    assert display_type(*classify("AT", "A", None)) == "INDEL"
    assert classify("A", "A" + "T" * 60, None) == ("INS", True)
    assert classify("N", "<DUP:TANDEM>", None) == ("DUP", True)
    assert classify("N", "<CN3>", "CNV") == ("CNV", True)
    assert classify("G", "G]17:198982]", None) == ("BND", True)


def test_bins_cover_overlaps() -> None:
    # a feature overlapping a query always lies in one of the query's bin ranges
    for start, end in ((0, 1), (131071, 131073), (5_000_000, 9_000_000), (1, 300_000_000)):
        b = bin_for(start, end)
        assert any(lo <= b <= hi for lo, hi in bin_ranges(start + (end - start) // 2,
                                                         start + (end - start) // 2 + 1))


def test_access_policy_tiers() -> None:
    policy = AccessPolicy.from_entries("controlled", ["pub=public", "reg=registered"],
                                       {"public": "boolean", "registered": "count",
                                        "controlled": "record"})
    anon = Caller()
    reg = caller_from("u", ["beacon:registered"])
    visa = caller_from("v", [], [("ControlledAccessGrants", "https://example.org/datasets/ctrl")])
    assert policy.granularity(anon, "pub") == Granularity.BOOLEAN
    assert policy.granularity(anon, "reg") is None
    assert policy.granularity(reg, "reg") == Granularity.COUNT
    assert policy.granularity(reg, "ctrl") is None
    assert policy.granularity(visa, "ctrl") == Granularity.RECORD
    assert policy.level("other") == SecurityLevel.CONTROLLED
    registered_by_visa = caller_from("w", [], [
        ("ResearcherStatus", "https://doi.org/10.1038/s41431-018-0219-y"),
        ("AcceptedTermsAndPolicies", "https://doi.org/10.1038/s41431-018-0219-y")])
    assert registered_by_visa.registered
    only_status = caller_from("w", [], [("ResearcherStatus", "x")])
    assert not only_status.registered


def test_disclosure() -> None:
    d = Disclosure(threshold=5, policy="less-than", rounding=10)
    assert d.count(0, 0) == (False, 0, None)
    assert d.count(3, 3) == (True, None, "fewer than 5 individuals")
    assert d.count(14, 6) == (True, 10, None)
    assert d.count(4, 6) == (True, 10, None)  # never rounded down to zero
    s = Disclosure(threshold=5, policy="suppress")
    assert s.count(3, 3) == (False, 0, None)
    assert not s.exists(4) and s.exists(5)
