"""Pure refget core: identifiers, sub-sequence planning, negotiation, seqcol comparison."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refget.utils import compare_seqcols

from common.errors import InvalidInput
from ga4gh.refget.core.errors import NotImplementedByServer, RangeNotSatisfiable
from ga4gh.refget.core.identifiers import (
    ga4gh_to_trunc512,
    parse_identifier,
    trunc512_to_ga4gh,
)
from ga4gh.refget.core.seqcol import build_collection, compare
from ga4gh.refget.core.subsequence import plan_slice
from ga4gh.refget.http.negotiation import Offer, negotiate

SQ = "SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2"


@pytest.mark.parametrize(
    ("raw", "kind", "value", "authority"),
    [
        ("6AEF897C3D6FF0C78AFF06AC189178DD", "md5", "6aef897c3d6ff0c78aff06ac189178dd", ""),
        ("md5:6aef897c3d6ff0c78aff06ac189178dd", "md5", "6aef897c3d6ff0c78aff06ac189178dd", ""),
        (SQ, "ga4gh", SQ, ""),
        ("ga4gh:" + SQ, "ga4gh", SQ, ""),
        ("insdc:CM000663.2", "alias", "CM000663.2", "insdc"),
        ("md5:123", "unknown", "md5:123", ""),
        ("Garbagechecksum", "unknown", "Garbagechecksum", ""),
    ],
)
def test_parse_identifier(raw: str, kind: str, value: str, authority: str) -> None:
    parsed = parse_identifier(raw)
    assert (parsed.kind, parsed.value, parsed.naming_authority) == (kind, value, authority)


def test_trunc512_round_trip() -> None:
    hex48 = ga4gh_to_trunc512(SQ)
    assert len(hex48) == 48
    assert trunc512_to_ga4gh(hex48) == SQ
    assert parse_identifier(hex48).value == SQ
    assert parse_identifier("trunc512:" + hex48.upper()).value == SQ


def test_plan_slice_cases() -> None:
    assert plan_slice(100, circular=False).segments == ((0, 100),)
    s = plan_slice(100, circular=True, start="90", end="5")
    assert s.segments == ((90, 100), (0, 5)) and s.size == 15 and s.by_query
    r = plan_slice(100, circular=False, range_header="bytes=10-19")
    assert (r.status, r.content_range, r.segments) == (206, "bytes 10-19/100", ((10, 20),))
    with pytest.raises(NotImplementedByServer):
        plan_slice(100, circular=True, circular_supported=False, start="90", end="5")
    with pytest.raises(RangeNotSatisfiable):
        plan_slice(100, circular=False, start="0", end="50", subsequence_limit=10)
    with pytest.raises(RangeNotSatisfiable):
        plan_slice(100, circular=False, range_header="bytes=0-50", subsequence_limit=10)
    assert plan_slice(100, circular=False, start="0", end="10", subsequence_limit=10).size == 10
    with pytest.raises(InvalidInput):
        plan_slice(100, circular=False, start="1", range_header="bytes=0-1")


def test_negotiate() -> None:
    a = Offer("a/x; charset=us-ascii", frozenset({"a/x", "a/plain"}))
    b = Offer("a/y", frozenset({"a/y"}))
    assert negotiate(None, [a, b]) is a
    assert negotiate("a/y", [a, b]) is b
    assert negotiate("a/plain", [a, b]) is a
    assert negotiate("a/y;q=0.5, a/x;q=0.8", [a, b]) is a
    assert negotiate("a/*;q=0.1, a/y", [a, b]) is b
    assert negotiate("b/*", [a, b]) is None
    assert negotiate("a/x;q=0", [a]) is None


_element = st.sampled_from(["a", "b", "c", "d", "e"])
_arrays = st.dictionaries(
    st.sampled_from(["names", "lengths", "sequences", "extra"]),
    st.lists(_element, max_size=6),
    min_size=1,
)


@settings(max_examples=300, deadline=None)
@given(_arrays, _arrays)
def test_compare_equals_reference_implementation(a: dict, b: dict) -> None:
    assert compare(a, b) == compare_seqcols(a, b)


def test_compare_object_elements() -> None:
    a = build_collection(["x", "y"], [1, 2], ["SQ.a", "SQ.b"]).level2
    b = build_collection(["y", "x"], [2, 1], ["SQ.b", "SQ.a"]).level2
    a.pop("sorted_name_length_pairs")
    b.pop("sorted_name_length_pairs")
    assert compare(a, b) == compare_seqcols(a, b)


def test_build_collection_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput):
        build_collection(["a", "a"], [1, 1], ["SQ.x", "SQ.y"])
    with pytest.raises(InvalidInput):
        build_collection(["a"], [1, 2], ["SQ.x"])
