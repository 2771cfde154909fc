"""The Beacon index in SQL (one adapter for SQLite and PostgreSQL): answers the queries of
``ga4gh.beacon.core`` with counts and pages of records; only consented individuals count.

SQL text is composed only from fixed fragments of this module; every value is a bind
parameter (hence the S608 suppressions). Range queries use the UCSC binning scheme (Kent
et al. 2002, "The human genome browser at UCSC", Genome Res 12:996) over (contig, bin, pos)
so that long structural variants are found without scanning the whole contig.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, text

from ga4gh.beacon.core.assemblies import ResolvedName
from ga4gh.beacon.core.filters import AgeCondition, IndividualCondition, TermCondition, term_kind
from ga4gh.beacon.core.model import VariantQuery
from ga4gh.beacon.core.ports import (
    AnalysisRecord,
    BiosampleRecord,
    Carrier,
    Counts,
    DatasetRecord,
    EntryRecord,
    IndividualRecord,
    RunRecord,
    Selection,
    Target,
    VariantRecord,
)
from ga4gh.beacon.core.variant_types import query_classes
from ga4gh.beacon.storage.consent import LiveConsentTable

# Kind of term rows implied by a recorded HPO term (its is_a ancestors).
ANCESTOR_KIND = "phenotype-ancestor"

VARIANT_INDEXES = {
    "ix_beacon_variant_pos": ["contig_pk", "pos"],
    "ix_beacon_variant_bin": ["contig_pk", "bin", "pos"],
    "ix_beacon_variant_individual": ["individual_pk"],
    "ix_beacon_variant_analysis": ["analysis_pk"],
}

# UCSC standard binning: 128 kb, 1 Mb, 8 Mb, 64 Mb, 512 Mb bins.
_BIN_SHIFTS = (17, 20, 23, 26, 29)
_BIN_OFFSETS = (512 + 64 + 8 + 1, 64 + 8 + 1, 8 + 1, 1, 0)
_BIN_LIMIT = 1 << 29


def bin_for(start: int, end: int) -> int:
    """The smallest UCSC bin holding [start, end); bin 0 for anything beyond 512 Mb."""
    last = max(end - 1, start)
    if start >> 17 == last >> 17:  # most variants: the finest level
        return _BIN_OFFSETS[0] + (start >> 17) if last < _BIN_LIMIT else 0
    if last >= _BIN_LIMIT:
        return 0
    for shift, offset in zip(_BIN_SHIFTS, _BIN_OFFSETS, strict=True):
        if start >> shift == last >> shift:
            return offset + (start >> shift)
    return 0


def bin_ranges(start: int, end: int) -> list[tuple[int, int]]:
    """The bins (as inclusive ranges, one per level) that can hold features overlapping."""
    last = min(max(end - 1, start), _BIN_LIMIT - 1)
    start = min(start, _BIN_LIMIT - 1)
    return [(offset + (start >> shift), offset + (last >> shift))
            for shift, offset in zip(_BIN_SHIFTS, _BIN_OFFSETS, strict=True)]


class _Sql:
    """A WHERE clause and its parameters built piece by piece."""

    def __init__(self) -> None:
        self.where: list[str] = []
        self.params: dict[str, Any] = {}
        self.expanding: set[str] = set()
        self._n = 0

    def p(self, value: Any, expanding: bool = False) -> str:
        self._n += 1
        name = f"p{self._n}"
        self.params[name] = value
        if expanding:
            self.expanding.add(name)
        return ":" + name

    def stmt(self, sql: str) -> Any:
        s = text(sql)
        for name in self.expanding:
            s = s.bindparams(bindparam(name, expanding=True))
        return s


def _bases_match(column: str, bases: str, sql: _Sql) -> str:
    # N is the spec's wildcard for any one base: LIKE with "_" keeps the length.
    if "N" in bases:
        return f"{column} LIKE {sql.p(bases.replace('N', '_'))}"
    return f"{column} = {sql.p(bases)}"


class SqlBeaconIndex:
    """BeaconIndex over the beacon_* tables."""

    def __init__(self, engine: Engine, consent: LiveConsentTable | None = None) -> None:
        self.engine = engine
        # With a live consent table every request first applies consent changes.
        self.consent = consent
        self._local = threading.local()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Answer every call of one request on one connection (one pool checkout, one
        consistent snapshot), after applying consent changes; calls outside a session open
        their own connection."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self.engine.connect() as conn:
            if self.consent is not None and self.consent.sync(conn):
                # Changes were applied in another transaction: a fresh one sees them (on
                # SQLite the state read opened a snapshot older than them).
                conn.rollback()
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def _connect(self) -> Any:
        conn = getattr(self._local, "conn", None)
        return contextlib.nullcontext(conn) if conn is not None else self.engine.connect()

    # -- lookups -----------------------------------------------------------------------
    def datasets(self) -> list[DatasetRecord]:
        with self._connect() as conn:
            rows = conn.execute(text(
                "SELECT id, name, description, created_at, updated_at FROM beacon_dataset "
                "ORDER BY id")).all()
        return [DatasetRecord(*r) for r in rows]

    def lookup_digest(self, key: str) -> ResolvedName | None:
        column = "sq_digest" if key.startswith("SQ.") else "md5"
        with self._connect() as conn:
            row = conn.execute(text(
                f"SELECT assembly, name FROM beacon_contig WHERE {column} = :k"),  # noqa: S608
                {"k": key}).first()
        return ResolvedName(row[0], row[1]) if row else None

    def gene_span(self, symbol: str, assembly: str) -> tuple[str, int, int] | None:
        with self._connect() as conn:
            rows = conn.execute(text(
                "SELECT chrom, start_pos, end_pos FROM beacon_gene "
                "WHERE assembly = :a AND upper(symbol) = upper(:s) ORDER BY chrom"),
                {"a": assembly, "s": symbol}).all()
        if not rows:
            return None
        chrom = rows[0][0]
        same = [r for r in rows if r[0] == chrom]
        return chrom, min(r[1] for r in same), max(r[2] for r in same)

    def filtering_terms(self, datasets: Sequence[str], min_individuals: int = 1
                        ) -> list[tuple[str, str]]:
        if not datasets:
            return []
        with self._connect() as conn:
            rows = conn.execute(text(
                "SELECT t.term, t.kind FROM beacon_individual_term t "
                "JOIN beacon_individual i ON i.pk = t.individual_pk "
                "JOIN beacon_dataset d ON d.pk = i.dataset_pk "
                "WHERE i.research_consent = :yes AND t.kind <> :anc AND d.id IN :ids "
                "GROUP BY t.term, t.kind HAVING COUNT(DISTINCT i.pk) >= :n ORDER BY t.term")
                .bindparams(bindparam("ids", expanding=True)),
                {"yes": True, "anc": ANCESTOR_KIND, "ids": list(datasets),
                 "n": max(min_individuals, 1)}).all()
        return [(r[0], r[1]) for r in rows if term_kind(r[0])]

    def _resolve(self, conn: Any, datasets: Sequence[str], sel: Selection
                 ) -> tuple[dict[int, str], dict[tuple[str, str], int]]:
        """Dataset pks and the contig pks a selection names, in one round trip."""
        contigs = set()
        if sel.variant_key is not None:
            contigs.add((sel.variant_key[0], sel.variant_key[1]))
        if sel.variant is not None:
            contigs.add((sel.variant.assembly, sel.variant.chrom))
        parts = ["SELECT 'd', pk, id, '' FROM beacon_dataset WHERE id IN :ids"]
        params: dict[str, Any] = {"ids": list(datasets)}
        for n, (assembly, chrom) in enumerate(sorted(contigs)):
            parts.append(f"SELECT 'c', pk, name, assembly FROM beacon_contig "  # noqa: S608
                         f"WHERE assembly = :a{n} AND name = :n{n}")
            params[f"a{n}"], params[f"n{n}"] = assembly, chrom
        rows = conn.execute(text(" UNION ALL ".join(parts)).bindparams(
            bindparam("ids", expanding=True)), params).all()
        pks = {int(r[1]): r[2] for r in rows if r[0] == "d"}
        contig_pks = {(r[3], r[2]): int(r[1]) for r in rows if r[0] == "c"}
        return pks, contig_pks

    # -- predicates --------------------------------------------------------------------
    def _variant_exists(
        self, contigs: dict[tuple[str, str], int], sel: Selection, sql: _Sql, frm: str,
        link: str, scope: Callable[[_Sql], None] | None = None,
    ) -> bool:
        """Add ``EXISTS (variant rows of the selection linked to the outer row)`` to ``sql``;
        False if the variant part can match nothing (unknown contig)."""
        inner = _Sql()
        inner._n = 1000  # parameter names apart from the outer query's
        if not self._variant_predicate(contigs, sel, inner, "v"):
            return False
        if scope is not None:
            scope(inner)
        sql.params.update(inner.params)
        sql.expanding |= inner.expanding
        cond = " AND ".join([link, *inner.where])
        sql.where.append(f"EXISTS (SELECT 1 FROM {frm} WHERE {cond})")  # noqa: S608
        return True

    def _variant_predicate(self, contigs: dict[tuple[str, str], int], sel: Selection,
                           sql: _Sql, v: str) -> bool:
        """Add the variant conditions on alias ``v``; False if nothing can match."""
        if sel.variant_key is not None:
            assembly, chrom, start, ref, alt = sel.variant_key
            contig = contigs.get((assembly, chrom))
            if contig is None:
                return False
            sql.where += [f"{v}.contig_pk = {sql.p(contig)}", f"{v}.pos = {sql.p(start)}",
                          f"{v}.ref = {sql.p(ref)}", f"{v}.alt = {sql.p(alt)}"]
        q = sel.variant
        if q is None:
            return True
        contig = contigs.get((q.assembly, q.chrom))
        if contig is None:
            return False
        sql.where.append(f"{v}.contig_pk = {sql.p(contig)}")
        if q.kind == "sequence":
            sql.where.append(f"{v}.pos = {sql.p(q.start[0])}")
        elif q.kind in ("range", "gene"):
            start, end = q.start[0], q.end[0]
            bins = " OR ".join(f"{v}.bin BETWEEN {sql.p(lo)} AND {sql.p(hi)}"
                               for lo, hi in bin_ranges(start, end))
            sql.where += [f"({bins})", f"{v}.pos < {sql.p(end)}", f"{v}.end_pos > {sql.p(start)}"]
        else:  # bracket: start in [s0, s1), end in [e0, e1); equal bounds mean exactly
            s0, s1 = q.start
            e0, e1 = q.end
            sql.where += [f"{v}.pos >= {sql.p(s0)}", f"{v}.pos < {sql.p(max(s1, s0 + 1))}",
                          f"{v}.end_pos >= {sql.p(e0)}", f"{v}.end_pos < {sql.p(max(e1, e0 + 1))}"]
        self._allele_predicate(q, sql, v)
        return True

    def _allele_predicate(self, q: VariantQuery, sql: _Sql, v: str) -> None:
        if q.alternate_bases is not None:
            sql.where.append(_bases_match(f"{v}.alt", q.alternate_bases, sql))
        if q.reference_bases is not None:
            sql.where.append(_bases_match(f"{v}.ref", q.reference_bases, sql))
        if q.variant_type is not None:
            classes, sv = query_classes(q.variant_type)
            sql.where.append(f"{v}.vclass IN {sql.p(list(classes), expanding=True)}")
            if sv is not None:
                sql.where.append(f"{v}.sv = {sql.p(sv)}")
        if q.min_length is not None:
            sql.where.append(f"{v}.length >= {sql.p(q.min_length)}")
        if q.max_length is not None:
            sql.where.append(f"{v}.length <= {sql.p(q.max_length)}")

    def _individual_predicate(self, conditions: Sequence[IndividualCondition], sql: _Sql,
                              i: str) -> None:
        sql.where.append(f"{i}.research_consent = {sql.p(True)}")
        for c in conditions:
            if isinstance(c, AgeCondition):
                op = "<>" if c.operator == "!" else c.operator
                sql.where.append(f"{i}.age_years {op} {sql.p(c.years)}")
                continue
            assert isinstance(c, TermCondition)
            match = f"t.term = {sql.p(c.term)}"
            if c.prefix:
                match = f"({match} OR t.term LIKE {sql.p(c.term + '.%')})"
            if c.direct_only:
                match += f" AND t.kind <> {sql.p(ANCESTOR_KIND)}"
            sub = f"SELECT t.individual_pk FROM beacon_individual_term t WHERE {match}"  # noqa: S608
            sql.where.append(f"{i}.pk {'NOT IN' if c.negate else 'IN'} ({sub})")

    def _scope(self, sel: Selection, sql: _Sql, i: str, b: str | None, a: str | None) -> None:
        if sel.individual_id is not None:
            sql.where.append(f"{i}.pseudonym = {sql.p(sel.individual_id)}")
        if sel.biosample_id is not None and b:
            sql.where.append(f"{b} = (SELECT pk FROM beacon_biosample WHERE id = "  # noqa: S608
                             f"{sql.p(sel.biosample_id)})")
        if sel.analysis_id is not None and a:
            sql.where.append(f"{a} = (SELECT pk FROM beacon_analysis WHERE id = "  # noqa: S608
                             f"{sql.p(sel.analysis_id)})")
        if sel.run_id is not None and b:
            # What a run reaches: the biosample it sequenced (none if not indexed).
            sql.where.append(f"{b} = (SELECT pk FROM beacon_biosample WHERE id = "  # noqa: S608
                             f"(SELECT biosample_id FROM beacon_run WHERE id = "
                             f"{sql.p(sel.run_id)}))")

    def _from(self, contigs: dict[tuple[str, str], int], target: Target,
              dataset_pks: list[int], sel: Selection) -> tuple[_Sql, str, str, str] | None:
        """(conditions, FROM clause, entry key column, individual column) for a target."""
        sql = _Sql()
        has_variant = sel.variant is not None or sel.variant_key is not None
        if target == "g_variants":
            sql.where.append(f"v.dataset_pk IN {sql.p(dataset_pks, expanding=True)}")
            if not self._variant_predicate(contigs, sel, sql, "v"):
                return None
            self._individual_predicate(sel.conditions, sql, "i")
            self._scope(sel, sql, "i", "v.biosample_pk", "v.analysis_pk")
            return (sql, "beacon_variant v JOIN beacon_individual i ON i.pk = v.individual_pk",
                    "v.vid", "v.individual_pk")
        if target == "individuals":
            sql.where.append(f"i.dataset_pk IN {sql.p(dataset_pks, expanding=True)}")
            self._individual_predicate(sel.conditions, sql, "i")
            self._scope(sel, sql, "i", None, None)
            scoped = Selection(biosample_id=sel.biosample_id, analysis_id=sel.analysis_id)
            if (has_variant or sel.biosample_id is not None or sel.analysis_id is not None) \
                    and not self._variant_exists(
                        contigs, sel, sql, "beacon_variant v", "v.individual_pk = i.pk",
                        lambda inner: self._scope(scoped, inner, "i", "v.biosample_pk",
                                                  "v.analysis_pk")):
                return None
            return sql, "beacon_individual i", "i.pk", "i.pk"
        if target in ("biosamples", "analyses"):
            sql.where.append(f"b.dataset_pk IN {sql.p(dataset_pks, expanding=True)}")
            self._individual_predicate(sel.conditions, sql, "i")
            self._scope(sel, sql, "i", "b.pk", "b.analysis_pk")
            if has_variant and not self._variant_exists(contigs, sel, sql, "beacon_variant v",
                                                        "v.biosample_pk = b.pk"):
                return None
            frm = ("beacon_biosample b JOIN beacon_individual i ON i.pk = b.individual_pk "
                   "JOIN beacon_analysis a ON a.pk = b.analysis_pk")
            key = "b.pk" if target == "biosamples" else "a.pk"
            return sql, frm, key, "i.pk"
        if target == "runs":
            sql.where.append(f"r.dataset_pk IN {sql.p(dataset_pks, expanding=True)}")
            self._individual_predicate(sel.conditions, sql, "i")
            if sel.individual_id is not None:
                sql.where.append(f"i.pseudonym = {sql.p(sel.individual_id)}")
            if sel.biosample_id is not None:
                sql.where.append(f"r.biosample_id = {sql.p(sel.biosample_id)}")
            if sel.run_id is not None:
                sql.where.append(f"r.id = {sql.p(sel.run_id)}")
            if sel.analysis_id is not None:
                sql.where.append(
                    "r.biosample_id IN (SELECT id FROM beacon_biosample WHERE analysis_pk = "  # noqa: S608
                    f"(SELECT pk FROM beacon_analysis WHERE id = {sql.p(sel.analysis_id)}))")
            if has_variant and not self._variant_exists(
                    contigs, sel, sql,
                    "beacon_variant v JOIN beacon_biosample vb ON vb.pk = v.biosample_pk",
                    "vb.id = r.biosample_id"):
                return None
            return (sql, "beacon_run r JOIN beacon_individual i ON i.pk = r.individual_pk",
                    "r.pk", "i.pk")
        return None

    # -- port methods ------------------------------------------------------------------
    def count(self, target: Target, datasets: Sequence[str], selection: Selection
              ) -> dict[str, Counts]:
        with self._connect() as conn:
            pks, contigs = self._resolve(conn, datasets, selection)
            if not pks:
                return {}
            built = self._from(contigs, target, list(pks), selection)
            if built is None:
                return {}
            sql, frm, key, ind = built
            ds = {"g_variants": "v.dataset_pk", "individuals": "i.dataset_pk",
                  "runs": "r.dataset_pk"}.get(target, "b.dataset_pk")
            stmt = (f"SELECT {ds}, COUNT(DISTINCT {key}), COUNT(DISTINCT {ind}) "  # noqa: S608
                    f"FROM {frm} WHERE {' AND '.join(sql.where)} GROUP BY {ds}")
            rows = conn.execute(sql.stmt(stmt), sql.params).all()
        return {pks[r[0]]: Counts(int(r[1]), int(r[2])) for r in rows}

    def records(self, target: Target, dataset: str, selection: Selection, offset: int,
                limit: int) -> list[EntryRecord]:
        with self._connect() as conn:
            pks, contigs = self._resolve(conn, [dataset], selection)
            if not pks:
                return []
            built = self._from(contigs, target, list(pks), selection)
            if built is None:
                return []
            sql, frm, _key, _ind = built
            where = " AND ".join(sql.where)
            page = f" LIMIT {int(limit)} OFFSET {int(offset)}"
            if target == "g_variants":
                return self._variant_records(conn, sql, frm, where, page, dataset)
            if target == "individuals":
                rows = conn.execute(sql.stmt(
                    f"SELECT i.pk, i.pseudonym, i.sex, i.age_years FROM {frm} "  # noqa: S608
                    f"WHERE {where} ORDER BY i.pseudonym" + page), sql.params).all()
                terms = self._terms(conn, [r[0] for r in rows])  # recorded terms only
                return [IndividualRecord(r[1], dataset, r[2], r[3], tuple(terms.get(r[0], ())))
                        for r in rows]
            if target == "runs":
                rows = conn.execute(sql.stmt(
                    "SELECT r.id, r.biosample_id, i.pseudonym, r.run_date, "  # noqa: S608
                    f"r.library_strategy, r.library_layout, r.platform FROM {frm} "
                    f"WHERE {where} ORDER BY r.id" + page), sql.params).all()
                return [RunRecord(r[0], dataset, r[1], r[2], r[3], r[4], r[5], r[6])
                        for r in rows]
            if target == "biosamples":
                rows = conn.execute(sql.stmt(
                    f"SELECT DISTINCT b.id, i.pseudonym FROM {frm} WHERE {where} "  # noqa: S608
                    "ORDER BY b.id" + page), sql.params).all()
                return [BiosampleRecord(r[0], r[1], dataset) for r in rows]
            rows = conn.execute(sql.stmt(
                f"SELECT a.pk, a.id, a.pipeline_name, a.analysis_date FROM {frm} "  # noqa: S608
                f"WHERE {where} GROUP BY a.pk, a.id, a.pipeline_name, a.analysis_date "
                "ORDER BY a.id" + page), sql.params).all()
            out: list[EntryRecord] = []
            for pk, aid, pipeline, date in rows:
                samples = conn.execute(text(
                    "SELECT b.id, i.pseudonym FROM beacon_biosample b JOIN beacon_individual i "
                    "ON i.pk = b.individual_pk WHERE b.analysis_pk = :a AND "
                    "i.research_consent = :yes ORDER BY b.id"), {"a": pk, "yes": True}).all()
                donors = {s[1] for s in samples}
                out.append(AnalysisRecord(aid, dataset, pipeline, date,
                                          tuple(s[0] for s in samples),
                                          next(iter(donors)) if len(donors) == 1 else None))
            return out

    def _terms(self, conn: Any, pks: list[int]) -> dict[int, list[str]]:
        if not pks:
            return {}
        rows = conn.execute(text(
            "SELECT individual_pk, term FROM beacon_individual_term WHERE individual_pk IN :p "
            "AND kind <> :anc ORDER BY term").bindparams(bindparam("p", expanding=True)),
            {"p": pks, "anc": ANCESTOR_KIND}).all()
        out: dict[int, list[str]] = {}
        for pk, term in rows:
            out.setdefault(pk, []).append(term)
        return out

    def _variant_records(self, conn: Any, sql: _Sql, frm: str, where: str, page: str,
                         dataset: str) -> list[EntryRecord]:
        frm_c = frm + " JOIN beacon_contig c ON c.pk = v.contig_pk"
        rows = conn.execute(sql.stmt(
            "SELECT v.vid, c.assembly, c.name, v.pos, v.end_pos, v.ref, v.alt, "  # noqa: S608
            f"v.vclass, v.sv FROM {frm_c} WHERE {where} "
            "GROUP BY v.vid, c.assembly, c.name, v.pos, v.end_pos, v.ref, v.alt, v.vclass, v.sv "
            "ORDER BY c.name, v.pos, v.alt" + page), sql.params).all()
        if not rows:
            return []
        vids = [r[0] for r in rows]
        sql.params["vids"] = vids
        sql.expanding.add("vids")
        carriers = conn.execute(sql.stmt(
            "SELECT v.vid, i.pseudonym, b.id, a.id, v.zygosity FROM "  # noqa: S608
            f"{frm} JOIN beacon_biosample b ON b.pk = v.biosample_pk "
            "JOIN beacon_analysis a ON a.pk = v.analysis_pk "
            f"WHERE {where} AND v.vid IN :vids ORDER BY i.pseudonym, b.id"), sql.params).all()
        by_vid: dict[int, list[Carrier]] = {}
        for vid, pseudonym, biosample, analysis, zyg in carriers:
            by_vid.setdefault(vid, []).append(Carrier(pseudonym, biosample, analysis, zyg))
        return [VariantRecord(r[1], r[2], int(r[3]), int(r[4]), r[5], r[6], r[7], bool(r[8]),
                              dataset, tuple(by_vid.get(r[0], ()))) for r in rows]
