"""Beacon v2 query answering (framework v2.0.0): resolves a :class:`BeaconQuery` against the
index under the access policy and builds the boolean, count, resultsets or collections
response the caller is entitled to."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput, NotFound
from ga4gh.beacon.core import responses as R
from ga4gh.beacon.core.access import AccessPolicy, Caller, Disclosure, TooManyQueries
from ga4gh.beacon.core.assemblies import normalise_assembly, resolve_reference_name
from ga4gh.beacon.core.entries import BY_PATH, EntryType
from ga4gh.beacon.core.filters import compile_filters
from ga4gh.beacon.core.model import (
    AccessTier,
    AlphanumericFilter,
    BeaconQuery,
    Granularity,
    VariantQuery,
)
from ga4gh.beacon.core.ports import (
    BeaconIndex,
    DatasetRecord,
    QueryBudget,
    Selection,
    Target,
    TermHierarchy,
)


@dataclass(frozen=True)
class BudgetRule:
    """At most ``limit`` count/record queries per caller per ``window_seconds`` (0: off)."""

    limit: int = 0
    window_seconds: int = 86400


class BeaconService:
    """Answers Beacon queries; one instance per app."""

    def __init__(
        self,
        index: BeaconIndex,
        identity: R.BeaconIdentity,
        policy: AccessPolicy,
        disclosure: Disclosure,
        *,
        default_assembly: str = "GRCh38",
        budget: QueryBudget | None = None,
        budget_rule: BudgetRule = BudgetRule(),
        default_limit: int = 10,
        clock: Callable[[], float] = time.time,
        hpo: Callable[[], TermHierarchy | None] = lambda: None,
    ) -> None:
        self.index = index
        self.identity = identity
        self.policy = policy
        self.disclosure = disclosure
        self.default_assembly = normalise_assembly(default_assembly)
        self.budget = budget
        self.budget_rule = budget_rule
        self.default_limit = default_limit
        self.clock = clock
        # Loaded on first use: reading hp.obo takes about a second.
        self.hpo = hpo

    # -- informational endpoints -------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return R.info_response(self.identity)

    def configuration(self) -> dict[str, Any]:
        levels = sorted({self.policy.default_level, *self.policy.levels.values()})
        return R.configuration_response(self.identity, [lv.label for lv in levels])

    def entry_types(self) -> dict[str, Any]:
        return R.entry_types_response(self.identity)

    def beacon_map(self, base_url: str) -> dict[str, Any]:
        return R.map_response(self.identity, base_url)

    def filtering_terms(self, caller: Caller) -> dict[str, Any]:
        """Terms of the datasets the caller may query. Outside a controlled-access grant a
        term is listed only when at least ``count_threshold`` individuals carry it: a rare
        diagnosis in the list would disclose its existence."""
        with self.index.session():
            visible = self._visible(caller)
            granted = [d for d in visible
                       if self.policy.tier(caller, d) == AccessTier.CONTROLLED]
            others = [d for d in visible if d not in granted]
            terms = set(self.index.filtering_terms(granted))
            terms |= set(self.index.filtering_terms(others, self.disclosure.threshold))
        terms_list = sorted(terms)
        hpo = self.hpo() if any(k == "phenotype" for _t, k in terms_list) else None
        return R.filtering_terms_response(self.identity, terms_list,
                                          hpo.label if hpo else None)

    def error(self, status: int, message: str, q: BeaconQuery | None = None) -> dict[str, Any]:
        return R.error_response(self.identity, status, message, q)

    # -- queries -----------------------------------------------------------------------
    def resolve_variant(self, v: VariantQuery) -> VariantQuery:
        """Names resolved to canonical (assembly, chrom); geneId turned into its range."""
        if v.kind == "gene":
            assembly = normalise_assembly(v.assembly) if v.assembly else self.default_assembly
            span = self.index.gene_span(v.gene_id or "", assembly)
            if span is None:
                raise InvalidInput(f"unknown geneId {v.gene_id!r} for {assembly}: load a gene "
                                   "table with `genomseq beacon genes`")
            chrom, start, end = span
            return dataclasses.replace(v, assembly=assembly, chrom=chrom, start=(start,),
                                       end=(end,))
        resolved = resolve_reference_name(v.chrom, v.assembly or None, self.default_assembly,
                                          self.index.lookup_digest)
        return dataclasses.replace(v, assembly=resolved.assembly, chrom=resolved.chrom)

    def _hpo_for(self, q: BeaconQuery) -> TermHierarchy | None:
        def mentions_hpo(f: object) -> bool:
            text = f.value if isinstance(f, AlphanumericFilter) else getattr(f, "id", "")
            return text.strip().upper().startswith("HP:")

        return self.hpo() if any(mentions_hpo(f) for f in q.filters) else None

    def _visible(self, caller: Caller) -> dict[str, tuple[DatasetRecord, Granularity]]:
        out = {}
        for d in self.index.datasets():
            g = self.policy.granularity(caller, d.id)
            if g is not None:
                out[d.id] = (d, g)
        return out

    def _spend(self, caller: Caller) -> None:
        rule = self.budget_rule
        if caller.unrestricted or caller.key is None or rule.limit <= 0 or self.budget is None:
            return
        now = int(self.clock())
        window = now - now % rule.window_seconds
        if not self.budget.spend(caller.key, window, rule.limit):
            raise TooManyQueries(
                f"query budget of {rule.limit} count/record queries per "
                f"{rule.window_seconds} s is used up; try again after the window ends")

    def query(self, path: str, q: BeaconQuery, caller: Caller,
              scope: tuple[str, str] | None = None) -> dict[str, Any]:
        """Answer a query on entry type ``path`` (e.g. ``g_variants``), optionally scoped by
        ``(entity path, id)`` from an entry-by-id or cross-entry route."""
        with self.index.session():
            return self._query(path, q, caller, scope)

    def _query(self, path: str, q: BeaconQuery, caller: Caller,
               scope: tuple[str, str] | None) -> dict[str, Any]:
        entry = BY_PATH[path]
        visible = self._visible(caller)
        selection = Selection(
            variant=self.resolve_variant(q.variant) if q.variant else None,
            conditions=compile_filters(q.filters, self._hpo_for(q)),
        )
        datasets = list(visible)
        if q.dataset_ids:
            # Ids the caller may not see are dropped silently: a 404 would confirm them.
            datasets = [d for d in datasets if d in q.dataset_ids]
        if scope is not None:
            scope_path, scope_id = scope
            if scope_path in ("datasets", "cohorts"):
                if scope_id not in visible or (q.dataset_ids and scope_id not in q.dataset_ids):
                    raise NotFound(f"no {scope_path[:-1]} {scope_id!r} visible to this caller")
                datasets = [scope_id]
            elif scope_path == "g_variants":
                key = R.parse_variant_internal_id(scope_id)
                if key is None:
                    raise InvalidInput(f"malformed variant id {scope_id!r}: expected "
                                       "assembly:chrom:start:ref:alt")
                selection = dataclasses.replace(selection, variant_key=key)
            elif scope_path == "individuals":
                selection = dataclasses.replace(selection, individual_id=scope_id)
            elif scope_path == "biosamples":
                selection = dataclasses.replace(selection, biosample_id=scope_id)
            elif scope_path == "analyses":
                selection = dataclasses.replace(selection, analysis_id=scope_id)
            elif scope_path == "runs":
                selection = dataclasses.replace(selection, run_id=scope_id)
        if entry.is_collection:
            return self._collections(entry, q, caller, visible, datasets, selection)
        return self._entries(entry, q, caller, visible, datasets, selection)

    def _entries(self, entry: EntryType, q: BeaconQuery, caller: Caller,
                 visible: dict[str, tuple[DatasetRecord, Granularity]], datasets: list[str],
                 selection: Selection) -> dict[str, Any]:
        allowed = [visible[d][1] for d in datasets]
        returned = min(q.requested_granularity, max(allowed, default=Granularity.BOOLEAN))
        contributing = [d for d in datasets if visible[d][1] >= returned]
        if contributing and returned >= Granularity.COUNT:
            self._spend(caller)
        target: Target = entry.path  # type: ignore[assignment]
        counts = {} if (q.test_mode or not contributing) else \
            self.index.count(target, contributing, selection)
        exact_entries = exact_inds = other_entries = other_inds = 0
        for d in contributing:
            c = counts.get(d)
            if c is None:
                continue
            if self.policy.tier(caller, d) == AccessTier.CONTROLLED:
                exact_entries += c.entries
                exact_inds += c.individuals
            else:
                other_entries += c.entries
                other_inds += c.individuals
        meta = R.response_meta(self.identity, entry, returned, q, self.default_limit)
        if returned == Granularity.BOOLEAN:
            exists = exact_inds > 0 or self.disclosure.exists(other_inds)
            return {"meta": meta, "responseSummary": {"exists": exists}}
        shown_exists, shown, note = self.disclosure.count(other_entries, other_inds)
        exists = exact_inds > 0 or shown_exists
        info: dict[str, Any] = {}
        if note:
            info["countPrecision"] = "less-than"
            info["note"] = f"some counts withheld: {note}"
        if returned == Granularity.COUNT:
            total = exact_entries + (shown or 0)
            if shown is None and total == 0:
                meta["returnedGranularity"] = Granularity.BOOLEAN.label
                return {"meta": meta, "responseSummary": {"exists": exists}, "info": info}
            doc: dict[str, Any] = {"meta": meta,
                                   "responseSummary": {"exists": exists,
                                                       "numTotalResults": total}}
            if info:
                doc["info"] = info
            return doc
        # Record granularity: every contributing dataset allows records.
        result_sets = []
        total = 0
        for d in contributing:
            c = counts.get(d)
            n = c.entries if c else 0
            total += n
            hit = n > 0
            mode = q.include_resultset_responses
            if mode == "NONE" or (mode == "HIT" and not hit) or (mode == "MISS" and hit):
                continue
            records = [] if not hit else self.index.records(
                target, d, selection, q.pagination.offset, q.pagination.limit)
            result_sets.append({
                "id": d,
                "setType": "dataset",
                "exists": hit,
                "resultsCount": n,
                "results": [R.entry_record(r, include_cases=True) for r in records],
            })
        return {"meta": meta,
                "responseSummary": {"exists": total > 0, "numTotalResults": total},
                "response": {"resultSets": result_sets}}

    def _collections(self, entry: EntryType, q: BeaconQuery, caller: Caller,
                     visible: dict[str, tuple[DatasetRecord, Granularity]], datasets: list[str],
                     selection: Selection) -> dict[str, Any]:
        collections = []
        for d in datasets:
            record, granularity = visible[d]
            if entry.path == "datasets":
                collections.append(R.dataset_record(record))
                continue
            size: int | None = None
            if granularity >= Granularity.COUNT:
                c = self.index.count("individuals", [d], Selection()).get(d)
                n = c.individuals if c else 0
                if self.policy.tier(caller, d) == AccessTier.CONTROLLED:
                    size = n
                else:
                    _exists, size, _note = self.disclosure.count(n, n)
            collections.append(R.cohort_record(record, size))
        meta = R.response_meta(self.identity, entry, Granularity.RECORD, q, self.default_limit)
        return {"meta": meta,
                "responseSummary": {"exists": bool(collections),
                                    "numTotalResults": len(collections)},
                "response": {"collections": collections}}
