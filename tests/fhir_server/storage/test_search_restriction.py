"""Search under a caller's ReadFilter (fhir_server.core.access): the dataset restriction in
the SQL, the per-resource decision per batch, keyset paging over refused rows, exact totals.

The filter here is a plain test double: the FHIR search knows no particular policy.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest

from config.context import AppContext
from fhir_server.core.errors import Forbidden
from fhir_server.storage.search_sql import SearchPage
from tests.fhir_server.storage.search_support import Store

TAG = "https://example.org/dataset"


@dataclass
class Filter:
    datasets: frozenset[str]
    refused: set[str] = field(default_factory=set)  # ids the per-resource decision refuses
    types: frozenset[str] = frozenset({"Observation", "Patient"})
    tag_system: str = TAG
    judged: int = 0
    links: frozenset[str] = frozenset({"subject"})  # references chains and _has may follow

    def type_allowed(self, res_type: str) -> bool:
        return res_type in self.types

    def admit(self, resources: Sequence[Mapping[str, Any]]) -> list[bool]:
        self.judged += len(resources)
        return [r["id"] not in self.refused and r["resourceType"] in self.types and any(
            t.get("system") == TAG and t.get("code") in self.datasets
            for t in r.get("meta", {}).get("tag", [])) for r in resources]

    def may_link(self, res_type: str, code: str) -> bool:
        return code in self.links

    def finish(self, returned: int) -> None:
        pass


def _tagged(res: dict[str, Any], dataset: str) -> dict[str, Any]:
    res["meta"] = {"tag": [{"system": TAG, "code": dataset}]}
    return res


@pytest.fixture()
def cohort(ctx: AppContext) -> Store:
    rng = random.Random(6)
    store = Store(ctx)
    resources = []
    for p in range(6):
        resources.append(_tagged({"resourceType": "Patient", "id": f"p{p}",
                                  "gender": "male" if p % 2 else "female"}, f"ds-{p % 3}"))
    for i in range(60):
        resources.append(_tagged({
            "resourceType": "Observation", "id": f"o{i:02d}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": f"c{rng.randrange(3)}"}]},
            "subject": {"reference": f"Patient/p{i % 6}"},
            "effectiveDateTime": f"2020-01-{1 + rng.randrange(28):02d}"}, f"ds-{i % 3}"))
    store.put(*resources)
    return store


def _search(store: Store, query: str, restriction: Filter | None,
            cursor: str | None = None) -> SearchPage:
    q = store.parser.parse(("Observation",), parse_qsl(query))
    q.cursor = cursor
    return store.searcher.search(q, restriction=restriction)


def _all(store: Store, query: str) -> list[str]:
    page = _search(store, query + "&_count=1000", None)
    assert page.next_cursor is None
    return [m.res_id for m in page.matches]


@pytest.mark.parametrize("query", ["_count=7", "_count=1&_sort=date", "_count=5&_sort=-date",
                                   "_count=3&code=c1", "_count=4&_sort=code,-_id"])
def test_paging_forward_and_back_equals_the_filtered_result(cohort: Store, query: str) -> None:
    rng = random.Random(query)
    refused = {f"o{i:02d}" for i in range(60) if rng.random() < 0.4}
    restriction = Filter(frozenset({"ds-0", "ds-1"}), refused)
    base = query.split("&", 1)[1] if "&" in query else ""
    meta = {r: f"ds-{int(r[1:]) % 3}" for r in _all(cohort, base)}
    want = [r for r in _all(cohort, base) if meta[r] != "ds-2" and r not in refused]
    pages: list[list[str]] = []
    page = _search(cohort, query, restriction)
    count = int(query.split("&")[0].split("=")[1])
    while True:
        ids = [m.res_id for m in page.matches]
        assert len(ids) == count or page.next_cursor is None  # pages are filled
        pages.append(ids)
        if page.next_cursor is None:
            break
        page = _search(cohort, query, restriction, page.next_cursor)
    assert [i for p in pages for i in p] == want
    # And back from the last page: the same pages in reverse.
    back = [[m.res_id for m in page.matches]]
    while page.prev_cursor is not None:
        page = _search(cohort, query, restriction, page.prev_cursor)
        if page.matches:
            back.append([m.res_id for m in page.matches])
    assert [i for p in reversed(back) for i in p] == want


def test_totals_count_only_admitted_matches(cohort: Store) -> None:
    refused = {"o00", "o01", "o03"}
    restriction = Filter(frozenset({"ds-0", "ds-1"}), refused)
    accurate = _search(cohort, "_count=2&_total=accurate", restriction)
    assert accurate.total == 40 - 3  # o00 (ds-0), o01 (ds-1), o03 (ds-0) refused
    assert _search(cohort, "_summary=count", restriction).total == 37
    assert _search(cohort, "_count=2&_total=estimate", restriction).total is None
    assert _search(cohort, "_count=2&_total=estimate", None).total == 60
    everything = _search(cohort, "_count=100", restriction)
    assert everything.total == 37 and len(everything.matches) == 37


def test_the_sql_restriction_keeps_other_datasets_from_being_judged(cohort: Store) -> None:
    restriction = Filter(frozenset({"ds-0"}))
    page = _search(cohort, "_count=100", restriction)
    assert {m.res_id for m in page.matches} == {f"o{i:02d}" for i in range(0, 60, 3)}
    assert restriction.judged == 20
    nothing = Filter(frozenset())
    assert _search(cohort, "_count=100&_total=accurate", nothing).total == 0
    assert nothing.judged == 0


def test_chains_has_and_includes_only_reach_permitted_targets(cohort: Store) -> None:
    restriction = Filter(frozenset({"ds-0"}))
    # o00 (ds-0) refers to p0 (ds-0); o03 (ds-0) to p3 (ds-0); o06 to p0 ...: every ds-0
    # Observation refers to p0 or p3. p1 (ds-1) is male, p3 (ds-0) is male.
    male = _search(cohort, "_count=100&subject:Patient.gender=male", restriction)
    assert {m.res_id for m in male.matches} == {f"o{i:02d}" for i in range(3, 60, 6)}
    q = cohort.parser.parse(("Patient",), [("_has:Observation:subject:code", "c0,c1,c2")])
    assert {m.res_id for m in cohort.searcher.search(q, restriction=restriction).matches} == {
        "p0", "p3"}
    # p4 (ds-1) has Observations only in ds-1: with ds-0 alone, _has cannot find it.
    q = cohort.parser.parse(("Patient",), [("_id", "p4"), ("_has:Observation:subject:code",
                                                           "c0,c1,c2")])
    assert cohort.searcher.search(q, restriction=Filter(frozenset({"ds-1", "ds-2"}))).matches
    q = cohort.parser.parse(("Patient",), [("_has:Observation:subject:code", "c0,c1,c2")])
    assert not [m for m in cohort.searcher.search(
        q, restriction=Filter(frozenset({"ds-1"}), types=frozenset({"Patient"}))).matches]
    # Links the filter does not allow are refused before any SQL runs.
    with pytest.raises(Forbidden):
        _search(cohort, "subject:Patient.gender=male", Filter(frozenset({"ds-0"}),
                                                               links=frozenset()))
    q = cohort.parser.parse(("Patient",), [("_has:Observation:subject:code", "c0")])
    with pytest.raises(Forbidden):
        cohort.searcher.search(q, restriction=Filter(frozenset({"ds-0"}), links=frozenset()))
    # A visible Observation of ds-1 refers to p1 (ds-1) and p4 (ds-1): with only ds-1's
    # Observations and ds-0's Patients visible, nothing is included.
    cross = Filter(frozenset({"ds-1"}), refused={"p1", "p4"})
    inc = _search(cohort, "_count=100&_include=Observation:subject", cross)
    assert len(inc.matches) == 20 and inc.includes == []
    rev = cohort.parser.parse(("Patient",), [("_id", "p0"),
                                             ("_revinclude", "Observation:subject")])
    page = cohort.searcher.search(rev, restriction=Filter(frozenset({"ds-0"}), {"o00"}))
    assert {i.res_id for i in page.includes} == {f"o{i:02d}" for i in range(6, 60, 6)}
