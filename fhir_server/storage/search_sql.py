"""FHIR R4 search on SQL (SQLite and PostgreSQL, SQLAlchemy Core).

FHIR R4 4.0.1 search.html (all of section 3.1) and http.html#paging. The index tables of
migration fhir_0002 are filled by :class:`SqlSearchIndexer` inside every write transaction;
:class:`SqlSearcher` turns a parsed :class:`SearchQuery` into one SELECT:

* the most selective plain clause drives (``r.id IN (SELECT resource_pk FROM idx WHERE
  hash = ...)``: one B-tree range in primary-key order), every other clause is an EXISTS
  probe on the (resource_pk, hash_identity) index;
* paging is keyset based on (sort keys..., primary key): a page never repeats or skips a
  resource that existed when the search started, however many writes happen in between;
  the cursor travels in an HMAC-signed opaque token bound to the query;
* a restricted caller's :class:`~fhir_server.core.access.ReadFilter` narrows the match set
  inside the SELECT to resources tagged with a permitted dataset (and so do chained
  parameters, ``_has``, ``_list`` and includes, on their targets); its per-resource decision
  (consent) is applied to each fetched batch, fetching further until the page is full, so
  the keyset cursor always stands on the last resource judged.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, and_, exists, false, func, not_, or_, select

from common.errors import InvalidInput
from fhir_server.core.access import ReadFilter, refused_link
from fhir_server.core.errors import Forbidden
from fhir_server.core.paging import decode_token, encode_token
from fhir_server.core.search.extract import (
    ROW_COLUMNS,
    TABLE_OF_TYPE,
    Extractor,
    IndexRows,
    comp_hash,
    fulltext,
    identity,
    target_hash,
    token_hashes,
    units_hash,
    uri_hash,
)
from fhir_server.core.search.params import (
    Clause,
    CompositeValue,
    Include,
    QueryParser,
    RangeValue,
    ReferenceValue,
    SearchQuery,
    SortKey,
    TokenValue,
)
from fhir_server.core.search.registry import Registry

metadata = sa.MetaData()
_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

resource_t = sa.Table(
    "fhir_resource", metadata,
    sa.Column("id", _PK, primary_key=True),
    sa.Column("res_type", sa.String(64)),
    sa.Column("res_id", sa.String(64)),
    sa.Column("version_id", sa.Integer()),
    sa.Column("last_updated", sa.BigInteger()),
    sa.Column("deleted", sa.Boolean()),
)
version_t = sa.Table(
    "fhir_resource_version", metadata,
    sa.Column("id", _PK, primary_key=True),
    sa.Column("resource_id", _PK),
    sa.Column("version_id", sa.Integer()),
    sa.Column("content", sa.LargeBinary()),
)
_COLTYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "hash_identity": sa.BigInteger(), "hash_sys": sa.BigInteger(),
    "hash_sys_value": sa.BigInteger(), "hash_value": sa.BigInteger(),
    "hash_target": sa.BigInteger(), "hash_uri": sa.BigInteger(), "hash_units": sa.BigInteger(),
    "hash_code": sa.BigInteger(), "low": sa.BigInteger(), "high": sa.BigInteger(),
    "value": sa.Float(), "value_low": sa.Float(), "value_high": sa.Float(),
    "c1_hash": sa.BigInteger(), "c1_hash_value": sa.BigInteger(), "c2_hash": sa.BigInteger(),
    "c2_hash_value": sa.BigInteger(), "c2_low": sa.Float(), "c2_high": sa.Float(),
    "c2_units": sa.BigInteger(), "c2_code": sa.BigInteger(), "c3_low": sa.Float(),
    "c3_high": sa.Float(),
}
TABLES: dict[str, sa.Table] = {}
for _name, _cols in ROW_COLUMNS.items():
    TABLES[_name] = sa.Table(
        _name, metadata, sa.Column("resource_pk", _PK),
        *(sa.Column(c, _COLTYPES.get(c, sa.String(500)) if not (
            _name == "fhir_idx_token" and c == "value") else sa.String(200)) for c in _cols),
    )
STRING, TOKEN, DATE = TABLES["fhir_idx_string"], TABLES["fhir_idx_token"], TABLES["fhir_idx_date"]
NUMBER, QUANTITY = TABLES["fhir_idx_number"], TABLES["fhir_idx_quantity"]
URI, REF = TABLES["fhir_idx_uri"], TABLES["fhir_idx_reference"]
COMPOSITE = TABLES["fhir_idx_composite"]
# Full text (migration fhir_0003): an FTS5 table on SQLite (rowid = resource pk), a table with
# GIN indexes over stored to_tsvector('simple', column) columns (``*_tsv``) on PostgreSQL.
TEXT = sa.Table("fhir_idx_text", metadata, sa.Column("resource_pk", _PK),
                sa.Column("rowid", _PK), sa.Column("narrative", sa.Text()),
                sa.Column("content", sa.Text()), sa.Column("narrative_tsv", sa.Text()),
                sa.Column("content_tsv", sa.Text()))
_TEXT_COLUMN = {"_text": "narrative", "_content": "content"}
_ALIASES: dict[tuple[str, int], Any] = {}


def _alias(table: sa.Table, depth: int = 0, role: str = "") -> Any:
    """A cached alias per (table, nesting depth, role).

    Building an alias's column collection costs about a millisecond; searches reuse them.
    Sibling subqueries may share one alias (each has its own scope); nested ones (chains,
    _has) use the next depth so correlation always names the intended row.
    """
    key = (table.name + role, depth)
    found = _ALIASES.get(key)
    if found is None:
        found = table.alias(f"{table.name.replace('fhir_', '')}{role}_{depth}")
        _ = found.c  # populate the column collection once
        _ALIASES[key] = found
    return found


def visible_cond(r: Any, restriction: ReadFilter | None, res_types: Iterable[str],
                 depth: int = 0) -> Any:
    """``r`` is tagged with a dataset the restricted caller may see, and is of a type its
    scopes allow (true when unrestricted). One IN probe on the token index (hash_sys_value)."""
    if restriction is None:
        return sa.true()
    datasets = sorted(restriction.datasets)
    hashes = [token_hashes(identity(t, "_tag"), restriction.tag_system, d)[1]
              for t in sorted(set(res_types)) if restriction.type_allowed(t) for d in datasets]
    if not hashes:
        # Nothing is visible. Not sa.false(): it would fold the sibling join conditions of
        # an EXISTS away; a primary key is never NULL.
        return r.c.id.is_(None)
    tok = _alias(TOKEN, depth, "_acl")
    return r.c.id.in_(select(tok.c.resource_pk).where(tok.c.hash_sys_value.in_(hashes)))


def admit(restriction: ReadFilter | None, items: list[StoredResource]) -> list[StoredResource]:
    """The resources the restricted caller may see (its per-resource decision, one batch)."""
    if restriction is None or not items:
        return items
    ok = restriction.admit([orjson.loads(i.content) for i in items])
    return [i for i, yes in zip(items, ok, strict=True) if yes]


TOP = "\U0010ffff"  # sorts after every other character (byte-wise collation)
_CHUNK = 500


@dataclass(frozen=True)
class StoredResource:
    """A current resource version as the searcher returns it."""

    pk: int
    res_type: str
    res_id: str
    version_id: int
    last_updated: int
    content: bytes


@dataclass(frozen=True)
class Everything:
    """Patient/$everything: the patient, its compartment, and a care-date window."""

    patient_id: str
    start: int | None = None  # microseconds, inclusive
    end: int | None = None
    since: int | None = None


@dataclass
class SearchPage:
    """One page of a searchset."""

    matches: list[StoredResource]
    includes: list[StoredResource] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None


# --------------------------------------------------------------------------------------------
# Indexer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedRows:
    """Index rows extracted ahead of the write transaction, with the registry generation
    they were extracted under."""

    generation: int
    rows: IndexRows
    text: tuple[str, str] | None = None  # (narrative, content) words for _text/_content


class CustomParameters:
    """Keeps a process's registry in step with the SearchParameter resources stored.

    Every gunicorn worker has its own registry; a cheap probe (count and newest
    last_updated of SearchParameter rows, on the (res_type, last_updated) index), at most
    once per ``interval`` seconds, tells when another process stored or deleted one.
    """

    def __init__(self, registry: Registry, interval: float = 1.0) -> None:
        self.registry = registry
        self.interval = interval
        self._checked = 0.0
        self._state: tuple[Any, ...] | None = None

    def due(self) -> bool:
        """True when the probe interval has passed."""
        return time.monotonic() - self._checked >= self.interval

    def refresh(self, conn: Connection, force: bool = False) -> None:
        """Reload the custom parameters if the stored set changed."""
        if not force and not self.due():
            return
        self._checked = time.monotonic()
        r = resource_t
        state = tuple(conn.execute(
            select(func.count(), func.max(r.c.last_updated)).where(
                r.c.res_type == "SearchParameter")).one())
        if state == self._state:
            return
        rows = conn.execute(
            select(version_t.c.content).select_from(
                r.join(version_t, and_(version_t.c.resource_id == r.c.id,
                                       version_t.c.version_id == r.c.version_id)))
            .where(r.c.res_type == "SearchParameter", r.c.deleted == false())
            .order_by(r.c.id)).all()
        self.registry.reset_custom()
        for (content,) in rows:
            try:
                self.registry.add_custom(json.loads(bytes(content)))
            except InvalidInput:
                continue  # refused when it was written; never let it break searching
        self._state = state


class SqlSearchIndexer:
    """SearchIndexer (fhir_server.storage.ports) on the fhir_idx_* tables."""

    def __init__(self, registry: Registry, custom: CustomParameters | None = None) -> None:
        self.registry = registry
        self.extractor = Extractor(registry)
        self.custom = custom or CustomParameters(registry)
        self._sql: dict[tuple[str, str], str] = {}

    def _insert_sql(self, conn: Connection, table: str) -> str:
        key = (conn.dialect.name, table)
        sql = self._sql.get(key)
        if sql is None:
            cols = ("resource_pk", *ROW_COLUMNS[table])
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            # Table and column names come from ROW_COLUMNS, never from input.
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608
                   f"VALUES ({', '.join([mark] * len(cols))})")
            self._sql[key] = sql
        return sql

    def index(self, conn: Connection, resource_pk: int, res_type: str,
              resource: dict[str, Any]) -> None:
        """Replace the index rows of one resource by those of its new current version."""
        self.index_many(conn, [(resource_pk, res_type, resource)])

    def prepare(self, res_type: str, resource: dict[str, Any]) -> PreparedRows | None:
        """The index rows of a resource, computed without the database (before the write
        transaction); ``index_many`` uses them if the registry has not changed since."""
        if res_type == "SearchParameter":
            return None  # it changes the registry itself: extracted in the transaction
        generation = self.registry.generation
        return PreparedRows(generation, self.extractor.extract(res_type, resource),
                            fulltext(resource))

    def index_many(self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any]]],
                   *, replace: bool = True,
                   prepared: Sequence[Any] | None = None) -> None:
        """Index many resources with one executemany per table.

        ``replace=False`` skips deleting old rows (resources created in this transaction).
        ``prepared`` (parallel to ``items``) holds rows from :meth:`prepare`, or None.
        """
        self.custom.refresh(conn)
        pre: list[Any] = list(prepared) if prepared is not None else [None] * len(items)
        if len({pk for pk, _, _ in items}) != len(items):
            last = {item[0]: (item, p) for item, p in zip(items, pre, strict=True)}
            items = [item for item, _ in last.values()]  # last version wins
            pre = [p for _, p in last.values()]
        for _, res_type, resource in items:
            if res_type == "SearchParameter":
                # Refuse what the server could not apply; honour it at once in this process.
                self.registry.add_custom(resource)
        if replace:
            self.unindex_many(conn, [pk for pk, _, _ in items])
        generation = self.registry.generation
        batches: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ROW_COLUMNS}
        for (pk, res_type, resource), ready in zip(items, pre, strict=True):
            if isinstance(ready, PreparedRows) and ready.generation == generation:
                extracted = ready.rows
            else:
                extracted = self.extractor.extract(res_type, resource)
            for table, rows in extracted.items():
                if rows:
                    batches[table].extend([(pk, *row) for row in rows])
        for table, rows in batches.items():
            if rows:
                conn.exec_driver_sql(self._insert_sql(conn, table), rows)
        texts = []
        for (pk, _, resource), ready in zip(items, pre, strict=True):
            words = ready.text if isinstance(ready, PreparedRows) and ready.text else None
            narrative, content = words if words is not None else fulltext(resource)
            if narrative or content:
                texts.append((pk, narrative, content))
        if texts:
            conn.exec_driver_sql(self._text_sql(conn), texts)

    @staticmethod
    def _text_sql(conn: Connection) -> str:
        if conn.dialect.name == "sqlite":
            return "INSERT INTO fhir_idx_text (rowid, narrative, content) VALUES (?, ?, ?)"
        return "INSERT INTO fhir_idx_text (resource_pk, narrative, content) VALUES (%s, %s, %s)"

    def unindex(self, conn: Connection, resource_pk: int) -> None:
        """Remove every index row of one (deleted) resource."""
        self.unindex_many(conn, [resource_pk])

    def unindex_many(self, conn: Connection, pks: Sequence[int]) -> None:
        """Remove every index row of many resources."""
        for i in range(0, len(pks), _CHUNK):
            chunk = list(pks[i:i + _CHUNK])
            for table in TABLES.values():
                conn.execute(table.delete().where(table.c.resource_pk.in_(chunk)))
            key = TEXT.c.rowid if conn.dialect.name == "sqlite" else TEXT.c.resource_pk
            conn.execute(TEXT.delete().where(key.in_(chunk)))

    def match(self, conn: Connection, res_type: str,
              criteria: list[tuple[str, str]]) -> list[int]:
        """Primary keys of current resources matching the criteria (conditional interactions)."""
        query = QueryParser(self.registry).parse((res_type,), criteria)
        builder = _Builder(self.registry, conn.dialect.name)
        stmt = select(builder.r.c.id).where(builder.where(query)).order_by(builder.r.c.id)
        return [row[0] for row in conn.execute(stmt.limit(1000))]


# --------------------------------------------------------------------------------------------
# Query building
# --------------------------------------------------------------------------------------------


def _range_cond(prefix: str, v: RangeValue, lo: Any, hi: Any) -> Any:
    """Spec prefix semantics for a target [lo, hi] against a search value (search.html#prefix)."""
    sl, sh = v.low, v.high
    if prefix == "eq":
        return and_(lo >= sl, hi <= sh)
    if prefix == "ne":
        return or_(lo < sl, hi > sh)
    if prefix == "gt":
        return hi > sh
    if prefix == "lt":
        return lo < sl
    if prefix == "ge":
        return or_(hi > sh, and_(lo >= sl, hi <= sh))
    if prefix == "le":
        return or_(lo < sl, and_(lo >= sl, hi <= sh))
    if prefix == "sa":
        return lo > sh
    if prefix == "eb":
        return hi < sl
    # ap: within 10% of the value (number/quantity) or of the gap to now (dates)
    return and_(hi >= sl - _ap_gap(v), lo <= sh + _ap_gap(v))


def _ap_gap(v: RangeValue) -> float:
    if v.code == "__date__":
        return abs(time.time() * 1e6 - v.low) * 0.1
    return abs(v.value) * 0.1


def _num_cond(prefix: str, v: RangeValue, lo: Any, hi: Any) -> Any:
    """Number/quantity prefix semantics: eq uses the implicit precision range."""
    # The implicit range of a number is half-open: 80 means [79.5, 80.5).
    if prefix == "eq":
        return and_(lo >= v.low, hi < v.high)
    if prefix == "ne":
        return or_(lo < v.low, hi >= v.high)
    if prefix == "ap":
        return _range_cond(prefix, v, lo, hi)
    x = v.value
    return {"gt": hi > x, "lt": lo < x, "ge": hi >= x, "le": lo <= x, "sa": lo > x,
            "eb": hi < x}[prefix]


class _Builder:
    """Builds the WHERE clause of a search over fhir_resource ``r``."""

    def __init__(self, registry: Registry, dialect: str, r: Any = None, depth: int = 0,
                 restriction: ReadFilter | None = None) -> None:
        self.registry = registry
        self.dialect = dialect
        self.depth = depth
        self.r = r if r is not None else _alias(resource_t, depth, "_r")
        self.restriction = restriction

    def visible(self, r: Any, res_types: Iterable[str]) -> Any:
        """The caller's dataset restriction on ``r`` at this depth (true if unrestricted)."""
        return visible_cond(r, self.restriction, res_types, self.depth)

    def sub(self) -> _Builder:
        """A builder one level down (chains, _has), under the same restriction."""
        return _Builder(self.registry, self.dialect, depth=self.depth + 1,
                        restriction=self.restriction)

    def a(self, table: sa.Table, role: str = "") -> Any:
        """The alias of an index table at this builder's depth."""
        return _alias(table, self.depth, role)

    # The driving clause ---------------------------------------------------------------

    def where(self, query: SearchQuery, extra: Iterable[Any] = ()) -> Any:
        """Every condition of the query on ``self.r`` (type, not deleted, clauses)."""
        r = self.r
        conds: list[Any] = [r.c.res_type.in_(query.res_types) if len(query.res_types) > 1
                            else r.c.res_type == query.res_types[0], r.c.deleted == false()]
        conds.extend(extra)
        clauses = list(query.clauses)
        driver = self._pick_driver(clauses)
        if driver is not None:
            table, cond = driver[1]
            conds.append(r.c.id.in_(select(table.c.resource_pk).where(cond)))
            clauses.remove(driver[0])
        conds.extend(self.clause_cond(c, r) for c in clauses)
        return and_(*conds)

    def _pick_driver(self, clauses: list[Clause]) -> tuple[Clause, tuple[Any, Any]] | None:
        best: tuple[int, Clause] | None = None
        for c in clauses:
            rank = _DRIVER_RANK.get(self._kind(c))
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, c)
        if best is None:
            return None
        row = self.row_cond(best[1], driver=True)
        return (best[1], row) if row is not None else None

    def _kind(self, c: Clause) -> str:
        if c.param is None or c.chain is not None or c.modifier in ("missing", "not"):
            return "other"
        if c.param.type == "reference" and c.modifier != "identifier":
            return "reference"
        return c.param.type

    # Row conditions (one index row satisfies the clause) --------------------------------

    def row_cond(self, c: Clause, alias: Any = None, driver: bool = False
                 ) -> tuple[Any, Any] | None:
        """(table alias, condition on one of its rows) for plain clauses; None otherwise."""
        if c.param is None or c.modifier in ("missing", "not"):
            return None
        if driver and alias is None:
            # The driving IN (...) subquery gets its own alias: the EXISTS probes of the
            # other clauses may use the same table at this depth.
            table = TABLES[TABLE_OF_TYPE["string" if c.modifier == "text" else
                                         "token" if c.modifier == "identifier" else
                                         c.param.type] if c.chain is None else "fhir_idx_reference"]
            alias = _alias(table, self.depth, "_drv")
        p = c.param
        ident = identity(c.res_type, c.code)
        if c.chain is not None:
            t = alias if alias is not None else self.a(REF)
            inner_any = []
            for target_type, inner in zip(c.chain.target_types, c.chain.inner, strict=True):
                sub = self.sub()
                r2 = sub.r
                inner_any.append(and_(
                    t.c.target_type == target_type,
                    exists().where(r2.c.res_type == target_type, r2.c.res_id == t.c.target_id,
                                   r2.c.deleted == false(), sub.visible(r2, (target_type,)),
                                   sub.clause_cond(inner, r2))))
            return t, and_(t.c.hash_identity == ident, or_(*inner_any))
        if p.type == "string":
            t = alias if alias is not None else self.a(STRING)
            return t, and_(t.c.hash_identity == ident,
                           or_(*(self._string_match(t, c.modifier, v) for v in c.values)))
        if p.type == "token":
            if c.modifier == "text":
                t = alias if alias is not None else self.a(STRING)
                tid = identity(c.res_type, c.code + ":text")
                return t, and_(t.c.hash_identity == tid, or_(*(
                    or_(self._prefix(t.c.value_norm, v), t.c.value_norm.like(
                        "% " + _like_escape(v) + "%", escape="\\")) for v in c.values)))
            t = alias if alias is not None else self.a(TOKEN)
            tid = identity(c.res_type, c.code + (":of-type" if c.modifier == "of-type" else ""))
            return t, self._token_cond(t, tid, c.values)
        if p.type == "reference":
            if c.modifier == "identifier":
                t = alias if alias is not None else self.a(TOKEN)
                return t, self._token_cond(t, identity(c.res_type, c.code + ":identifier"),
                                           c.values)
            t = alias if alias is not None else self.a(REF)
            hashes: list[int] = []
            for v in c.values:
                assert isinstance(v, ReferenceValue)
                if v.url is not None:
                    hashes.append(uri_hash(ident, v.url))
                else:
                    assert v.id is not None
                    hashes.extend(target_hash(ident, tt, v.id) for tt in v.types)
            return t, t.c.hash_target.in_(hashes) if len(hashes) > 1 else \
                t.c.hash_target == hashes[0]
        if p.type == "date":
            t = alias if alias is not None else self.a(DATE)
            return t, and_(t.c.hash_identity == ident, or_(*(
                _range_cond(v.prefix, _as_date(v), t.c.low, t.c.high) for v in c.values)))
        if p.type == "number":
            t = alias if alias is not None else self.a(NUMBER)
            return t, and_(t.c.hash_identity == ident, or_(*(
                _num_cond(v.prefix, v, t.c.value, t.c.value) for v in c.values)))
        if p.type == "quantity":
            t = alias if alias is not None else self.a(QUANTITY)
            ors = []
            for v in c.values:
                cond = _num_cond(v.prefix, v, t.c.value_low, t.c.value_high)
                if v.code is not None:
                    cond = and_(cond, t.c.hash_units == units_hash(ident, v.system, v.code)
                                if v.system else t.c.hash_code == units_hash(ident, None, v.code))
                elif v.system is not None:
                    raise InvalidInput("A quantity with a system needs a code")
                ors.append(cond)
            return t, and_(t.c.hash_identity == ident, or_(*ors))
        if p.type == "uri":
            t = alias if alias is not None else self.a(URI)
            ors = []
            for v in c.values:
                if c.modifier == "below":
                    ors.append(self._prefix(t.c.uri, v))
                elif c.modifier == "above":
                    ors.append(t.c.uri.in_(_uri_prefixes(v)))
                else:
                    ors.append(t.c.hash_uri == uri_hash(ident, v))
            return t, and_(t.c.hash_identity == ident, or_(*ors))
        if p.type == "composite":
            t = alias if alias is not None else self.a(COMPOSITE)
            return t, and_(t.c.hash_identity == ident, or_(*(
                self._composite(t, c, v) for v in c.values)))
        raise InvalidInput(f"Search parameter {c.code!r} of type {p.type} is not supported")

    def _prefix(self, col: Any, text: str) -> Any:
        return and_(col >= text, col < text + TOP)

    def _string_match(self, t: Any, modifier: str | None, value: str) -> Any:
        from fhir_server.core.search.values import normalize
        if modifier == "exact":
            return t.c.value_exact == value
        norm = normalize(value)
        if modifier == "contains":
            return t.c.value_norm.like("%" + _like_escape(norm) + "%", escape="\\")
        return self._prefix(t.c.value_norm, norm)

    def _token_cond(self, t: Any, ident: int, values: list[Any]) -> Any:
        sv: list[int] = []
        vv: list[int] = []
        ss: list[int] = []
        for v in values:
            assert isinstance(v, TokenValue)
            h_sys, h_sys_value, h_value = token_hashes(ident, v.system, v.code)
            if v.system is None:
                vv.append(h_value)
            elif v.code is None:
                ss.append(h_sys)
            else:
                sv.append(h_sys_value)
        ors = []
        for col, hs in ((t.c.hash_sys_value, sv), (t.c.hash_value, vv), (t.c.hash_sys, ss)):
            if hs:
                ors.append(col.in_(hs) if len(hs) > 1 else col == hs[0])
        return or_(*ors) if len(ors) > 1 else ors[0]

    def _composite(self, t: Any, c: Clause, v: CompositeValue) -> Any:
        assert c.param is not None
        conds = []
        cols = [(t.c.c1_hash, t.c.c1_hash_value, None, None, None, None),
                (t.c.c2_hash, t.c.c2_hash_value, t.c.c2_low, t.c.c2_high, t.c.c2_units,
                 t.c.c2_code),
                (None, None, t.c.c3_low, t.c.c3_high, None, None)]
        for comp, part, (h, hv, lo, hi, units, code_col) in zip(c.param.components, v.parts,
                                                                 cols, strict=False):
            if isinstance(part, TokenValue):
                if h is None or part.code is None:
                    raise InvalidInput(f"Composite {c.code!r}: token component needs a code")
                conds.append(h == comp_hash(part.code, part.system) if part.system
                             else hv == comp_hash(part.code))
            elif isinstance(part, RangeValue):
                if lo is None:
                    raise InvalidInput(f"Composite {c.code!r}: unexpected range component")
                pv = _as_date(part) if comp.type == "date" else part
                conds.append(_range_cond(pv.prefix, pv, lo, hi) if comp.type == "date"
                             else _num_cond(pv.prefix, pv, lo, hi))
                if comp.type == "quantity" and part.code is not None and units is not None:
                    # number|system|code matches system and code; number||code the code only.
                    conds.append(units == comp_hash(part.code, part.system) if part.system
                                 else code_col == comp_hash(part.code))
            else:
                if hv is None:
                    raise InvalidInput(f"Composite {c.code!r}: unexpected component value")
                conds.append(hv == comp_hash(str(part)))
        return and_(*conds)

    def _fulltext(self, r: Any, column: str, phrases: list[tuple[str, ...]]) -> Any:
        """``r`` has, for one of the phrases, every word as the start of a word of its
        narrative/content (FTS5 prefix queries; tsquery ``word:*`` on the GIN index)."""
        if self.dialect == "sqlite":
            # Words are letters and digits only (text_words), so quoting them is exact.
            match = " OR ".join("(" + " AND ".join(f'"{w}"*' for w in p) + ")" for p in phrases)
            return r.c.id.in_(select(TEXT.c.rowid).where(TEXT.c[column].op("MATCH")(match)))
        query = " | ".join("(" + " & ".join(f"{w}:*" for w in p) + ")" for p in phrases)
        simple: Any = sa.literal_column("'simple'::regconfig")
        matches = select(TEXT.c.resource_pk).where(
            TEXT.c[f"{column}_tsv"].op("@@")(func.to_tsquery(simple, query)))
        # = ANY(ARRAY(...)): the GIN lookup runs once; as a plain IN the planner, chasing
        # ORDER BY id LIMIT n, walks both primary keys and tests every row's tsvector.
        return r.c.id == sa.any_(func.array(matches.scalar_subquery()))

    # Conditions on the resource row r --------------------------------------------------

    def clause_cond(self, c: Clause, r: Any) -> Any:
        """The clause as a condition on the resource row ``r``."""
        if c.has is not None:
            return self._has_cond(c, r)
        if c.code == "_id":
            return r.c.res_id.in_(c.values)
        if c.code == "_lastUpdated":
            if c.modifier == "missing":
                return sa.literal(not c.values[0])
            return or_(*(_range_cond(v.prefix, _as_date(v), r.c.last_updated, r.c.last_updated)
                         for v in c.values))
        if c.code == "_list":
            lr, lst = self.a(REF, "_list"), self.a(resource_t, "_list")
            return exists().where(
                lst.c.res_type == "List", lst.c.res_id.in_(c.values), lst.c.deleted == false(),
                self.visible(lst, ("List",)),
                lr.c.resource_pk == lst.c.id, lr.c.hash_identity == identity("List", "item"),
                lr.c.target_type == r.c.res_type, lr.c.target_id == r.c.res_id)
        if c.code in _TEXT_COLUMN:
            return self._fulltext(r, _TEXT_COLUMN[c.code], c.values)
        assert c.param is not None
        if c.modifier == "missing":
            table = self.a(TABLES[TABLE_OF_TYPE[c.param.type]])
            present = exists().where(table.c.resource_pk == r.c.id,
                                     table.c.hash_identity == identity(c.res_type, c.code))
            return not_(present) if c.values[0] else present
        if c.modifier == "not":
            positive = Clause(c.res_type, c.code, c.param, None, c.values)
            t, cond = self.row_cond(positive)  # type: ignore[misc]
            return not_(exists().where(t.c.resource_pk == r.c.id, cond))
        row = self.row_cond(c)
        assert row is not None
        t, cond = row
        extra = []
        if "hash_identity" in t.c and c.param.type in ("token", "reference"):
            # Lets the (resource_pk, hash_identity) index narrow the probe.
            code = c.code + {"text": ":text", "of-type": ":of-type",
                             "identifier": ":identifier"}.get(c.modifier or "", "")
            extra.append(t.c.hash_identity == identity(c.res_type, code))
        return exists().where(t.c.resource_pk == r.c.id, *extra, cond)

    def _has_cond(self, c: Clause, r: Any) -> Any:
        assert c.has is not None
        ref = self.a(REF, "_has")
        inner = self.sub()
        src = inner.r
        return exists().where(
            ref.c.hash_identity == identity(c.has.source_type, c.has.reference.code),
            ref.c.target_type == r.c.res_type, ref.c.target_id == r.c.res_id,
            src.c.id == ref.c.resource_pk, src.c.deleted == false(),
            inner.visible(src, (c.has.source_type,)),
            inner.clause_cond(c.has.inner, src))

    # Sorting ---------------------------------------------------------------------------

    def sort_exprs(self, keys: list[SortKey], res_type: str) -> list[tuple[Any, bool, str]]:
        """(expression, descending, kind) per sort key; NULLs mapped to sort last."""
        out = []
        r = self.r
        for k in keys:
            if k.code == "_id":
                out.append((r.c.res_id, k.descending, "str"))
                continue
            if k.code == "_lastUpdated":
                out.append((r.c.last_updated, k.descending, "int"))
                continue
            assert k.param is not None
            ident = identity(res_type, k.code)
            agg = func.max if k.descending else func.min
            ptype = k.param.type
            t = self.a(TABLES[TABLE_OF_TYPE[ptype]], "_sort")
            col, kind = {
                "string": (t.c.value_norm if "value_norm" in t.c else None, "str"),
                "token": (t.c.value if "value" in t.c else None, "str"),
                "date": ((t.c.high if k.descending else t.c.low) if "low" in t.c else None,
                         "int"),
                "number": (t.c.value if "value" in t.c else None, "float"),
                "quantity": ((t.c.value_high if k.descending else t.c.value_low)
                             if "value_low" in t.c else None, "float"),
                "uri": (t.c.uri if "uri" in t.c else None, "str"),
                "reference": (t.c.target_id if "target_id" in t.c else None, "str"),
            }[ptype]
            sub = select(agg(col)).where(t.c.resource_pk == r.c.id,
                                         t.c.hash_identity == ident).scalar_subquery()
            sentinel: Any
            if kind == "str":
                sentinel = "" if k.descending else TOP
            elif kind == "int":
                sentinel = -(2 ** 62) if k.descending else 2 ** 62
            else:
                sentinel = -1e300 if k.descending else 1e300
            out.append((func.coalesce(sub, sentinel), k.descending, kind))
        return out


_DRIVER_RANK = {"reference": 0, "token": 1, "uri": 2, "composite": 3, "quantity": 4,
                "string": 5, "number": 6, "date": 7}


def _as_date(v: RangeValue) -> RangeValue:
    return RangeValue(v.prefix, v.value, v.low, v.high, None, "__date__")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _uri_prefixes(uri: str) -> list[str]:
    parts = uri.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 2, -1)] or [uri]


# --------------------------------------------------------------------------------------------
# Cursor tokens
# --------------------------------------------------------------------------------------------


class CursorCodec:
    """Paging cursors bound to their search, signed as fhir_server.core.paging tokens."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def query_digest(self, res_types: Sequence[str], applied: Sequence[tuple[str, str]],
                     scope: str) -> str:
        """A digest binding a cursor to its search (types, parameters, compartment)."""
        raw = json.dumps([list(res_types), sorted(applied), scope], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def encode(self, payload: dict[str, Any]) -> str:
        """Sign and encode a cursor payload (the FHIR core's paging token)."""
        return encode_token(self.secret, payload)

    def decode(self, token: str) -> dict[str, Any]:
        """Verify and decode a cursor; InvalidInput when forged, damaged or foreign."""
        return decode_token(self.secret, token)


# --------------------------------------------------------------------------------------------
# Searcher
# --------------------------------------------------------------------------------------------


class SqlSearcher:
    """Runs parsed searches: matches with keyset paging, includes, totals."""

    def __init__(self, engine: Engine, registry: Registry, secret: bytes,
                 indexer: SqlSearchIndexer | None = None) -> None:
        self.engine = engine
        self.registry = registry
        self.parser = QueryParser(registry)
        self.cursors = CursorCodec(secret)
        self.indexer = indexer or SqlSearchIndexer(registry)

    def _read(self) -> Any:
        """A read-only connection; on PostgreSQL in autocommit (no BEGIN/ROLLBACK round trips:
        every statement sees a committed snapshot, as READ COMMITTED would)."""
        conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

    def refresh(self) -> None:
        """Pick up SearchParameter resources stored by other processes."""
        if not self.indexer.custom.due():
            return
        with self._read() as conn:
            self.indexer.custom.refresh(conn)

    def compartment_cond(self, r: Any, comp_type: str, comp_id: str,
                         res_types: Sequence[str]) -> Any:
        """Membership of ``r`` in the compartment ``comp_type/comp_id`` (only Patient)."""
        if comp_type != "Patient":
            raise InvalidInput(f"Compartment {comp_type} is not supported")
        hashes = []
        for t in res_types:
            for code in self.registry.patient_compartment.get(t, ()):
                if self.registry.get(t, code) is not None:
                    hashes.append(target_hash(identity(t, code), "Patient", comp_id))
        if not hashes:
            return sa.false()
        ref = _alias(REF, 0, "_comp")
        return r.c.id.in_(select(ref.c.resource_pk).where(ref.c.hash_target.in_(hashes)))

    def search(self, query: SearchQuery, *, compartment: tuple[str, str] | None = None,
               everything: Everything | None = None,
               restriction: ReadFilter | None = None) -> SearchPage:
        """One page of results for a parsed query, optionally inside a Patient compartment.

        With a ``restriction`` the page holds only resources it admits (matches and
        includes); totals are then exact (``_total=accurate`` and ``_summary=count`` judge
        every match) or absent (no estimates: a count of unjudged rows would leak).
        """
        if restriction is not None:
            link = refused_link(restriction, query.clauses)
            if link is not None:
                raise Forbidden(f"chained and _has searches through {link} are not available "
                                "to this caller: they would match data whose access is not "
                                "checked (only subject/patient links are)")
        b = _Builder(self.registry, self.engine.dialect.name, restriction=restriction)
        r = b.r
        extra: list[Any] = []
        if restriction is not None:
            extra.append(b.visible(r, query.res_types))
        scope = ""
        if compartment is not None:
            extra.append(self.compartment_cond(r, compartment[0], compartment[1],
                                               query.res_types))
            scope = "/".join(compartment)
        if everything is not None:
            extra.extend(self._everything_conds(r, everything, query.res_types))
            scope = f"everything/{everything.patient_id}"
        digest = self.cursors.query_digest(query.res_types, query.applied, scope)
        where = b.where(query, extra)
        keys = b.sort_exprs(query.sort, query.res_types[0])
        keys.append((r.c.id, False, "int"))
        direction, after = "n", None
        if query.cursor:
            payload = self.cursors.decode(query.cursor)
            if payload.get("q") != digest or not isinstance(payload.get("k"), list) \
                    or len(payload["k"]) != len(keys) or payload.get("d") not in ("n", "p"):
                raise InvalidInput("Paging cursor does not belong to this search")
            direction, after = payload["d"], payload["k"]
        with self._read() as conn:
            total = None
            if query.summary == "count" or query.total == "accurate":
                total = self._count(conn, query, where, r, plain=not extra) \
                    if restriction is None else self._count_admitted(conn, where, r, restriction)
            if query.summary == "count" or query.count == 0:
                return SearchPage([], [], total)
            reverse = direction == "p"
            order = []
            for expr, desc, _ in keys:
                asc = (not desc) != reverse
                order.append(expr.asc() if asc else expr.desc())
            cols = [expr.label(f"k{i}") for i, (expr, _, _) in enumerate(keys)]
            nkeys = len(cols)
            # The page and its content in one round trip (the version row by its unique key).
            v = _alias(version_t, 0, "_page")
            base = select(*cols, r.c.res_type, r.c.res_id, r.c.version_id, r.c.last_updated,
                          v.c.content).join_from(
                r, v, and_(v.c.resource_id == r.c.id, v.c.version_id == r.c.version_id)
            ).where(where)
            # Rows are judged in order; the cursor stands on the last row judged (boundary),
            # so rows a restriction refused are never skipped unjudged nor shown.
            fetched: list[tuple[Any, ...]] = []
            boundary = after
            budget = max(20 * query.count, 200)
            scanned = admitted = 0
            while True:
                need = query.count - len(fetched)
                stmt = base if boundary is None else base.where(
                    _keyset(keys, boundary, reverse))
                if restriction is None:
                    batch = [tuple(row) for row in
                             conn.execute(stmt.order_by(*order).limit(need + 1))]
                    more = len(batch) > need
                    fetched.extend(batch[:need])
                    if fetched:
                        boundary = list(fetched[-1][:nkeys])
                    break
                # Fetch more than needed by the share refused so far (one round trip for
                # most pages); rows past a full page are judged again on the next one.
                limit = need + 1 + min(budget, max(8, need * (scanned - admitted)
                                                   // max(admitted, 1)))
                batch = [tuple(row) for row in conn.execute(stmt.order_by(*order).limit(limit))]
                ok = restriction.admit([orjson.loads(bytes(row[nkeys + 4])) for row in batch])
                more = len(batch) == limit
                for row, yes in zip(batch, ok, strict=True):
                    if len(fetched) == query.count:
                        more = True  # a row beyond the full page exists
                        break
                    boundary = list(row[:nkeys])
                    scanned += 1
                    if yes:
                        admitted += 1
                        fetched.append(row)
                # A page may stay short when the budget is spent; its cursor goes on.
                if not more or len(fetched) >= query.count or scanned >= budget:
                    break
            if reverse:
                fetched.reverse()
            rows = [row[:nkeys] for row in fetched]
            matches = [StoredResource(row[nkeys - 1], row[nkeys], row[nkeys + 1], row[nkeys + 2],
                                      row[nkeys + 3], bytes(row[nkeys + 4])) for row in fetched]
            includes = self._includes(conn, query, matches, restriction) \
                if query.includes else []
            if everything is not None:
                includes = admit(restriction, [i for i in self._include_once(
                    conn, Include("*", "*", None, False, False), matches, restriction)
                    if i.res_type not in self.registry.patient_compartment
                    and i.res_type != "Patient"])
            if total is None and query.total != "none" and after is None and not more:
                total = len(matches)
            if total is None and query.total == "estimate" and restriction is None:
                total = self._count(conn, query, where, r, plain=not extra)
        page = SearchPage(matches, includes, total)

        def cursor(d: str, row: Sequence[Any]) -> str:
            return self.cursors.encode({"q": digest, "d": d, "k": list(row)})

        if boundary is not None and boundary is not after:
            if not reverse:
                if more:
                    page.next_cursor = cursor("n", boundary)
                if after is not None:
                    page.prev_cursor = cursor("p", rows[0] if rows else boundary)
            else:
                page.next_cursor = cursor("n", rows[-1] if rows else boundary)
                if more:
                    page.prev_cursor = cursor("p", boundary)
        return page

    def _count_admitted(self, conn: Connection, where: Any, r: Any,
                        restriction: ReadFilter) -> int:
        """How many matches the restriction admits: every match judged, in key order."""
        v = _alias(version_t, 0, "_cnt")
        base = select(r.c.id, v.c.content).join_from(
            r, v, and_(v.c.resource_id == r.c.id, v.c.version_id == r.c.version_id)
        ).where(where).order_by(r.c.id).limit(_CHUNK)
        total, last = 0, None
        while True:
            stmt = base if last is None else base.where(r.c.id > last)
            batch = conn.execute(stmt).all()
            if not batch:
                return total
            ok = restriction.admit([orjson.loads(bytes(row[1])) for row in batch])
            total += sum(ok)
            last = batch[-1][0]

    def _everything_conds(self, r: Any, ev: Everything, res_types: Sequence[str]) -> list[Any]:
        member = or_(and_(r.c.res_type == "Patient", r.c.res_id == ev.patient_id),
                     self.compartment_cond(r, "Patient", ev.patient_id, res_types))
        conds = [member]
        if ev.since is not None:
            conds.append(r.c.last_updated >= ev.since)
        if ev.start is not None or ev.end is not None:
            # Care dates (patient-operation-everything.html): the type's "date" parameter.
            dated = [t for t in res_types if self.registry.get(t, "date") is not None]
            d = _alias(DATE, 0, "_ev")
            window = [d.c.resource_pk == r.c.id,
                      d.c.hash_identity.in_([identity(t, "date") for t in dated])]
            if ev.start is not None:
                window.append(d.c.high >= ev.start)
            if ev.end is not None:
                window.append(d.c.low <= ev.end)
            conds.append(or_(r.c.res_type.notin_(dated) if dated else sa.true(),
                             exists().where(*window)))
        return conds

    def _count(self, conn: Connection, query: SearchQuery, where: Any, r: Any,
               plain: bool = True) -> int:
        # A single equality clause on a unique-per-resource hash counts index entries only.
        if plain and len(query.clauses) == 1 and len(query.res_types) == 1:
            c = query.clauses[0]
            b = _Builder(self.registry, self.engine.dialect.name)
            if b._kind(c) in ("token", "reference") and len(c.values) == 1:
                row = b.row_cond(c)
                if row is not None:
                    t, cond = row
                    return int(conn.execute(select(func.count()).select_from(t).where(cond))
                               .scalar_one())
        return int(conn.execute(select(func.count()).select_from(r).where(where)).scalar_one())

    def _load(self, conn: Connection, pks: list[int]) -> list[StoredResource]:
        if not pks:
            return []
        rr, v = _alias(resource_t, 0, "_load"), _alias(version_t, 0, "_load")
        stmt = select(rr.c.id, rr.c.res_type, rr.c.res_id, rr.c.version_id,
                      rr.c.last_updated, v.c.content).join(
            v, and_(v.c.resource_id == rr.c.id, v.c.version_id == rr.c.version_id)
        ).where(rr.c.id.in_(pks), rr.c.deleted == false())
        by_pk = {row[0]: StoredResource(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))
                 for row in conn.execute(stmt)}
        return [by_pk[pk] for pk in pks if pk in by_pk]

    def _includes(self, conn: Connection, query: SearchQuery, matches: list[StoredResource],
                  restriction: ReadFilter | None = None) -> list[StoredResource]:
        seen = {m.pk for m in matches}
        out: list[StoredResource] = []
        frontier = matches
        for depth in range(4):  # :iterate is bounded to keep include cost predictable
            new: list[StoredResource] = []
            for inc in query.includes:
                if depth > 0 and not inc.iterate:
                    continue
                found = self._include_once(conn, inc, frontier, restriction)
                for res in found:
                    if res.pk not in seen:
                        seen.add(res.pk)
                        new.append(res)
            # Only what the caller may see is returned, and only that is iterated from.
            new = admit(restriction, new)
            out.extend(new)
            if not new or not any(i.iterate for i in query.includes):
                break
            frontier = new
        return out

    def _include_once(self, conn: Connection, inc: Include, sources: list[StoredResource],
                      restriction: ReadFilter | None = None) -> list[StoredResource]:
        """The resources one _include/_revinclude adds for ``sources`` (search.html#include).

        One statement per include, written once per dialect as driver SQL: building and
        compiling the equivalent SQLAlchemy expression cost about ten times the statement
        itself (the page's reference rows and the targets are a few index probes). The
        primary keys and hashes travel as one array parameter, so the statement text (and
        the server's plan) is the same for every page. A restricted principal's includes
        carry the visibility condition and go through :meth:`_include_visible`.
        """
        if not sources:
            return []
        if restriction is not None:
            return self._include_visible(conn, inc, sources, restriction)
        if not inc.reverse:
            src = [s.pk for s in sources if inc.source_type in ("*", s.res_type)]
            if not src:
                return []
            idents = self._ref_idents(inc, {s.res_type for s in sources
                                            if inc.source_type in ("*", s.res_type)})
            if not idents:
                return []
            params: tuple[Any, ...] = (self._array(conn, src), self._array(conn, idents))
            if inc.target_type:
                params += (inc.target_type,)
            sql = self._include_sql(conn, "target" if inc.target_type else "forward")
        else:
            if inc.source_type == "*":
                raise InvalidInput("_revinclude=* is not supported; name Type:parameter")
            idents = self._ref_idents(inc, {inc.source_type})
            hashes = [target_hash(i, s.res_type, s.res_id) for i in idents
                      for s in sources if inc.target_type in (None, s.res_type)]
            if not hashes:
                return []
            params = (self._array(conn, hashes), inc.source_type)
            sql = self._include_sql(conn, "reverse")
        rows = conn.exec_driver_sql(sql, params).all()
        return [StoredResource(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))
                for row in rows]

    def _include_visible(self, conn: Connection, inc: Include, sources: list[StoredResource],
                         restriction: ReadFilter) -> list[StoredResource]:
        """_include/_revinclude for a restricted principal: only targets it may see."""
        ref = _alias(REF, 0, "_inc")
        rr = _alias(resource_t, 0, "_inc")
        v = _alias(version_t, 0, "_inc")
        cols = (rr.c.id, rr.c.res_type, rr.c.res_id, rr.c.version_id, rr.c.last_updated,
                v.c.content)
        version_join = and_(v.c.resource_id == rr.c.id, v.c.version_id == rr.c.version_id)
        if not inc.reverse:
            src = [s for s in sources if inc.source_type in ("*", s.res_type)]
            if not src:
                return []
            idents = self._ref_idents(inc, {s.res_type for s in src})
            # The targets themselves, by (type, id) through the resource table's unique index;
            # targets that do not exist (or are deleted) simply do not join.
            target = _alias(resource_t, 0, "_tgt")
            inner = select(target.c.id).select_from(ref).join(
                target, and_(target.c.res_type == ref.c.target_type,
                             target.c.res_id == ref.c.target_id)).where(
                ref.c.resource_pk.in_([s.pk for s in src]), ref.c.hash_identity.in_(idents))
            if inc.target_type:
                inner = inner.where(ref.c.target_type == inc.target_type)
            stmt = select(*cols).join_from(rr, v, version_join).where(
                rr.c.id.in_(inner), rr.c.deleted == false(), visible_cond(
                    rr, restriction, (inc.target_type,) if inc.target_type
                    else self.registry.resource_types))
        else:
            if inc.source_type == "*":
                raise InvalidInput("_revinclude=* is not supported; name Type:parameter")
            idents_by_code = self._ref_idents(inc, {inc.source_type})
            hashes = [target_hash(i, s.res_type, s.res_id) for i in idents_by_code
                      for s in sources if inc.target_type in (None, s.res_type)]
            if not hashes:
                return []
            inner = select(ref.c.resource_pk).where(ref.c.hash_target.in_(hashes))
            stmt = select(*cols).join_from(rr, v, version_join).where(
                rr.c.id.in_(inner), rr.c.deleted == false(), rr.c.res_type == inc.source_type,
                visible_cond(rr, restriction, (inc.source_type,)))
        rows = conn.execute(stmt.order_by(rr.c.id).limit(10000)).all()
        return [StoredResource(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))
                for row in rows]

    @staticmethod
    def _array(conn: Connection, values: list[int]) -> Any:
        """A list of integers as one bound parameter (JSON text on SQLite, an array on PG)."""
        return json.dumps(values) if conn.dialect.name == "sqlite" else values

    _INCLUDE_SQL: dict[tuple[str, str], str] = {}

    def _include_sql(self, conn: Connection, kind: str) -> str:
        key = (conn.dialect.name, kind)
        sql = self._INCLUDE_SQL.get(key)
        if sql is not None:
            return sql
        if conn.dialect.name == "sqlite":
            mark, deleted = "?", "0"

            def in_array(col: str) -> str:
                return f"{col} IN (SELECT value FROM json_each(?))"  # noqa: S608
        else:
            mark, deleted = "%s", "false"

            def in_array(col: str) -> str:
                return f"{col} = ANY(%s)"
        # Every fragment below is a constant of this module; values are bound parameters.
        head = ("SELECT r.id, r.res_type, r.res_id, r.version_id, r.last_updated, v.content "
                "FROM fhir_resource r JOIN fhir_resource_version v "
                "ON v.resource_id = r.id AND v.version_id = r.version_id WHERE r.id IN ")
        if kind == "reverse":
            inner = (f"(SELECT x.resource_pk FROM fhir_idx_reference x "  # noqa: S608
                     f"WHERE {in_array('x.hash_target')}) AND r.res_type = {mark}")
        else:
            # The targets by (type, id) through the resource table's unique index; targets
            # that do not exist (or are deleted) simply do not join.
            inner = (f"(SELECT t.id FROM fhir_idx_reference x JOIN fhir_resource t "  # noqa: S608
                     f"ON t.res_type = x.target_type AND t.res_id = x.target_id "
                     f"WHERE {in_array('x.resource_pk')} AND {in_array('x.hash_identity')}"
                     + (f" AND x.target_type = {mark})" if kind == "target" else ")"))
        sql = f"{head}{inner} AND r.deleted = {deleted} ORDER BY r.id LIMIT 10000"  # noqa: S608
        self._INCLUDE_SQL[key] = sql
        return sql

    def _ref_idents(self, inc: Include, types: set[str]) -> list[int]:
        idents: list[int] = []
        for t in types:
            if inc.code == "*":
                idents.extend(identity(t, code) for code, sp in self.registry.params(t).items()
                              if sp.type == "reference")
            elif self.registry.get(t, inc.code) is not None:
                idents.append(identity(t, inc.code))
        return idents


def build_searcher(engine: Engine, secret: bytes, registry: Registry | None = None
                   ) -> SqlSearcher:
    """A searcher and its indexer over one registry (built-in R4 parameters by default)."""
    from fhir_server.core.search.registry import load_default
    reg = registry or load_default()
    return SqlSearcher(engine, reg, secret, SqlSearchIndexer(reg))


def _keyset(keys: list[tuple[Any, bool, str]], after: list[Any], reverse: bool) -> Any:
    """Rows strictly after (or before, when paging back) ``after`` in the sort order."""
    ors = []
    for i, (expr, desc, kind) in enumerate(keys):
        v = _coerce(after[i], kind)
        forward = (not desc) != reverse
        cmp = expr > v if forward else expr < v
        eqs = [keys[j][0] == _coerce(after[j], keys[j][2]) for j in range(i)]
        ors.append(and_(*eqs, cmp))
    return or_(*ors)


def _coerce(value: Any, kind: str) -> Any:
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("Invalid paging cursor") from exc
