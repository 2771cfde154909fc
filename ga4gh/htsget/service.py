"""htsget service: finds the catalogued object, builds (and caches) its parsed layout and
computes tickets with the pure core. Storage is reached only through the ObjectStore port."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from ga4gh.catalogue.core.model import FileFormat, GenomicObject, IndexFormat, Kind
from ga4gh.catalogue.ports import GenomicCatalogue, ObjectStore
from ga4gh.htsget.core import records
from ga4gh.htsget.core.bgzf import BlockReader, CorruptData
from ga4gh.htsget.core.cram import has_eof_container, read_cram_header
from ga4gh.htsget.core.errors import NotFound, UnsupportedFormat
from ga4gh.htsget.core.indexes import IndexError_, parse_bai, parse_crai, parse_csi, parse_tbi
from ga4gh.htsget.core.request import READS, VARIANTS, Query, filters_requested
from ga4gh.htsget.core.tickets import BgzfLayout, CramLayout, Ticket, bgzf_ticket, cram_ticket

KIND_OF_ENDPOINT = {READS: Kind.READS, VARIANTS: Kind.VARIANTS}


class StoreSource:
    """ByteSource over one object of an ObjectStore (size fixed when the layout is built)."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self._store = store
        self._key = key
        self._size = store.size(key)

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        end = min(self._size, offset + length)
        if end <= offset:
            return b""
        return self._store.read_range(self._key, offset, end)


class BrokenObject(RuntimeError):
    """A catalogued object's data or index cannot be read (operator must repair)."""


@dataclass(frozen=True)
class _CacheKey:
    storage_key: str
    data_mtime: int
    index_mtime: int


class HtsgetService:
    """Tickets for catalogued reads and variants."""

    def __init__(self, catalogue: GenomicCatalogue, store: ObjectStore, cache_size: int = 64):
        self.catalogue = catalogue
        self.store = store
        self._cache: OrderedDict[_CacheKey, BgzfLayout | CramLayout] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._lock = threading.Lock()

    def find(self, endpoint: str, object_id: str) -> GenomicObject:
        """The catalogued object behind /reads/{id} or /variants/{id}; NotFound otherwise."""
        obj = self.catalogue.get(object_id)
        if obj is None or obj.kind != KIND_OF_ENDPOINT[endpoint]:
            raise NotFound(f"no {endpoint} with id {object_id!r}")
        return obj

    def needs_transcoding(self, obj: GenomicObject, query: Query) -> bool:
        """True if fields/tags/notags filter the records of a BAM (served by transcoding)."""
        return (
            obj.format is FileFormat.BAM and not query.header_only and filters_requested(query)
        )

    def ticket(self, obj: GenomicObject, query: Query) -> Ticket:
        """The ticket answering a validated query for an object."""
        if query.format != obj.format.value:
            raise UnsupportedFormat(
                f"{obj.id!r} is available as {obj.format.value} only, not {query.format}"
            )
        layout = self.layout(obj)
        try:
            if isinstance(layout, CramLayout):
                return cram_ticket(layout, query, obj.id)
            return bgzf_ticket(layout, query, obj.id)
        except (CorruptData, IndexError_) as exc:
            raise BrokenObject(f"stored object {obj.id!r} is unreadable: {exc}") from exc

    def layout(self, obj: GenomicObject) -> BgzfLayout | CramLayout:
        """The parsed header and index of an object (cached by storage key and mtimes)."""
        if obj.index_key is None:
            raise BrokenObject(f"object {obj.id!r} has no index")
        try:
            key = _CacheKey(
                obj.storage_key,
                self.store.mtime_ns(obj.storage_key),
                self.store.mtime_ns(obj.index_key),
            )
        except FileNotFoundError as exc:
            raise BrokenObject(f"stored files of {obj.id!r} are missing") from exc
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        try:
            layout = self._build(obj)
        except (CorruptData, IndexError_, FileNotFoundError) as exc:
            raise BrokenObject(f"stored object {obj.id!r} is unreadable: {exc}") from exc
        with self._lock:
            self._cache[key] = layout
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return layout

    def _build(self, obj: GenomicObject) -> BgzfLayout | CramLayout:
        assert obj.index_key is not None
        source = StoreSource(self.store, obj.storage_key)
        index_bytes = self.store.read_range(
            obj.index_key, 0, self.store.size(obj.index_key)
        )
        if obj.format is FileFormat.CRAM:
            header = read_cram_header(source)
            return CramLayout(
                source, header, parse_crai(index_bytes),
                {n: i for i, n in enumerate(header.names)}, has_eof_container(source),
            )
        reader = BlockReader(source, cache_blocks=48)
        if obj.index_format is IndexFormat.BAI:
            index = parse_bai(index_bytes)
        elif obj.index_format is IndexFormat.TBI:
            index = parse_tbi(index_bytes)
        else:
            index = parse_csi(index_bytes)
        if obj.format is FileFormat.BAM:
            header = records.read_bam_header(reader)
            tids: dict[str, int | None] = {n: i for i, n in enumerate(header.names)}
            return BgzfLayout("BAM", reader, header, index, records.bam_records, tids)
        if obj.format is FileFormat.BCF:
            header = records.read_bcf_header(reader)
            tids = {n: i for i, n in enumerate(header.names) if n}
            return BgzfLayout("BCF", reader, header, index, records.bcf_records, tids)
        header = records.read_vcf_header(reader)
        names = index.names or header.names
        by_name = {n: i for i, n in enumerate(names)}
        tids = {n: None for n in header.names if n}
        tids.update(by_name)
        return BgzfLayout(
            "VCF", reader, header, index,
            lambda r, start, beg: records.vcf_records(r, start, by_name, beg), tids,
        )
