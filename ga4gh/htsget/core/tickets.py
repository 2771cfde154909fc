"""htsget 1.3 tickets ("Response JSON fields", "Response data blocks") computed from indexes.

A ticket is the header, the body records overlapping the requested regions and the EOF
marker, as parts to concatenate. BGZF formats (BAM, VCF, BCF): the index (BAI/CSI/TBI) gives
candidate chunks; the records at both edges of a region are read to find exactly the records
that overlap it (htsget-rs stops at index granularity). Whole BGZF blocks are referenced as
byte ranges; the wanted part of a block at either edge (and the header's last block when it
also holds records) is re-encoded as BGZF and inlined as a ``data:`` URI. The concatenation
is a valid file with exactly the records a local ``samtools view``/``bcftools view`` of the
region gives, whatever the writer's block boundaries. CRAM: whole containers from the CRAI
(slices cannot be cut without re-encoding).
"""

from __future__ import annotations

import base64
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ga4gh.catalogue.core.formats import BGZF_EOF, CRAM3_EOF
from ga4gh.htsget.core.bgzf import (
    BlockReader,
    ByteSource,
    coffset_of,
    compress,
    uoffset_of,
    voffset,
)
from ga4gh.htsget.core.errors import NotFound
from ga4gh.htsget.core.indexes import BinningIndex, CraiEntry
from ga4gh.htsget.core.records import Header, RecordTuple
from ga4gh.htsget.core.request import Query, Region

HEADER, BODY = "header", "body"
# Deflate level of re-encoded edge blocks: level 2 is about 3x faster than 6 for ~10% more
# bytes on two partial blocks per region (tickets are computed per request).
INLINE_LEVEL = 2


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, end) of the stored file."""

    start: int
    end: int
    cls: str


@dataclass(frozen=True)
class Inline:
    """Bytes carried in the ticket itself (a ``data:`` URI)."""

    data: bytes
    cls: str

    @functools.cached_property
    def uri(self) -> str:
        """The ``data:;base64,`` URI (htsget "Inline data block URIs"; the exact form htslib
        parses), computed once per (memoised) ticket."""
        return "data:;base64," + base64.b64encode(self.data).decode()


Part = ByteRange | Inline


@dataclass(frozen=True)
class Ticket:
    """The parts of a ticket in concatenation order."""

    format: str
    parts: tuple[Part, ...]


# A run of consecutive records: [start, end) in virtual offsets.
Interval = tuple[int, int]


RecordIter = Callable[[BlockReader, int, int], Iterator[RecordTuple]]


@dataclass
class BgzfLayout:
    """What a ticket for a BGZF file needs: blocks, header, index, record reader."""

    format: str
    reader: BlockReader
    header: Header
    index: BinningIndex
    records: RecordIter
    # referenceName -> index reference number (None: known reference without records)
    tids: dict[str, int | None]
    # Tickets already computed, by (format, header only, regions).
    tickets: OrderedDict[tuple[str, bool, tuple[Region, ...] | None], Ticket] = field(
        default_factory=OrderedDict
    )
    memo_size: int = 256
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def eof_start(self) -> int:
        size = self.reader.size
        if self.reader.has_eof_marker():
            return size - len(BGZF_EOF)
        return size


def _resolve(tids: dict[str, int | None], region: Region, object_id: str) -> int | None:
    if region.reference_name not in tids:
        raise NotFound(f"reference {region.reference_name!r} does not exist in {object_id!r}")
    return tids[region.reference_name]


def bgzf_ticket(layout: BgzfLayout, query: Query, object_id: str) -> Ticket:
    """Ticket for a BAM, VCF or BCF file holding exactly the records overlapping the query.

    Memoised per layout (the stored object is immutable and the layout is keyed by its
    modification time), so a repeated query costs a dictionary lookup.
    """
    key = (query.format, query.header_only, query.regions)
    with layout.lock:
        hit = layout.tickets.get(key)
        if hit is not None:
            layout.tickets.move_to_end(key)
            return hit
    ticket = _bgzf_ticket(layout, query, object_id)
    with layout.lock:
        layout.tickets[key] = ticket
        while len(layout.tickets) > layout.memo_size:
            layout.tickets.popitem(last=False)
    return ticket


def _bgzf_ticket(layout: BgzfLayout, query: Query, object_id: str) -> Ticket:
    header_end = layout.header.end
    parts: list[Part] = list(_bgzf_header(layout))
    if not query.header_only:
        eof = voffset(layout.eof_start, 0)
        intervals: list[Interval] = []
        if query.regions is None:
            if header_end < eof:
                intervals.append((header_end, eof))
        else:
            for region in query.regions:
                if region.reference_name == "*":
                    intervals.extend(_unplaced(layout, eof))
                else:
                    tid = _resolve(layout.tids, region, object_id)
                    if tid is not None:
                        intervals.extend(region_intervals(layout, tid, region))
        for start, end in _union(intervals):
            parts.extend(_interval_parts(layout.reader, start, end))
    parts.append(Inline(BGZF_EOF, HEADER if query.header_only else BODY))
    return Ticket(query.format, tuple(_coalesce(parts)))


def _bgzf_header(layout: BgzfLayout) -> list[Part]:
    end = layout.header.end
    if uoffset_of(end) == 0:
        return [ByteRange(0, coffset_of(end), HEADER)]
    # The header ends inside a block: re-encode exactly the header bytes.
    data = bytearray()
    for block in layout.reader.blocks_from(0):
        if block.coffset == coffset_of(end):
            data += block.data[: uoffset_of(end)]
            break
        data += block.data
    return [Inline(compress(bytes(data), INLINE_LEVEL), HEADER)]


def region_intervals(layout: BgzfLayout, tid: int, region: Region) -> list[Interval]:
    """Runs of consecutive records that together are exactly the records overlapping a region."""
    index = layout.index
    if tid >= len(index.refs):
        return []
    beg = region.start or 0
    limit = 1 << (index.min_shift + 3 * index.depth)
    end = min(region.end if region.end is not None else limit, limit)
    if beg >= end:
        return []
    min_off = index.lower_bound(tid, beg)
    chunks = [(max(b, min_off), e) for b, e in index.chunks(tid, beg, end) if e > min_off]
    if not chunks:
        return []
    first = min(b for b, _ in chunks)
    last = max(e for _, e in chunks)
    out: list[Interval] = []
    # Records starting before ``beg`` are kept one by one if they reach into the region;
    # from the first record starting at or after ``beg`` on, every record up to the first
    # one starting at or after ``end`` overlaps (records are sorted by start).
    pending: int | None = None
    body_start = -1
    for v, rtid, rstart, rend in layout.records(layout.reader, first, beg):
        if pending is not None:
            out.append((pending, v))
            pending = None
        if v >= last or rtid != tid or rstart >= end:
            return out
        if rstart >= beg:
            body_start = v
            break
        if rend > beg:
            pending = v
    else:
        if pending is not None:
            out.append((pending, voffset(layout.eof_start, 0)))
        return out
    if region.end is None or end >= limit:
        body_end = last
    else:
        body_end = _first_beyond(layout, tid, end, max(body_start, index.lower_bound(tid, end)),
                                 last)
    if body_end > body_start:
        out.append((body_start, body_end))
    return out


def _first_beyond(layout: BgzfLayout, tid: int, end: int, anchor: int, last: int) -> int:
    """Virtual offset of the first record at or after ``anchor`` that starts at or after
    ``end`` (or is on another reference), capped by the chunks' end."""
    for v, rtid, rstart, _ in layout.records(layout.reader, anchor, 0):
        if v >= last:
            return last
        if rtid != tid or rstart >= end:
            return v
    return min(last, voffset(layout.eof_start, 0))


def _unplaced(layout: BgzfLayout, eof: int) -> list[Interval]:
    index = layout.index
    if index.n_no_coor == 0:
        return []
    start = max((ref.max_chunk_end() for ref in index.refs), default=0)
    start = max(start, layout.header.end)
    # Skip placed records the index does not cover (none in a well-formed file).
    for v, rtid, _, _ in layout.records(layout.reader, start, 0):
        if rtid == -1:
            return [(v, eof)] if v < eof else []
    return []


def _union(intervals: list[Interval]) -> list[Interval]:
    """Sorted, disjoint runs: a record in several regions is returned once."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _interval_parts(reader: BlockReader, start: int, end: int) -> list[Part]:
    """Whole blocks as byte ranges; partial blocks at either edge re-encoded inline."""
    cs, us = coffset_of(start), uoffset_of(start)
    ce, ue = coffset_of(end), uoffset_of(end)
    if cs == ce:
        data = reader.block(cs).data[us:ue]
        return [Inline(compress(data, INLINE_LEVEL), BODY)] if ue > us else []
    parts: list[Part] = []
    raw_start = cs
    if us:
        block = reader.block(cs)
        parts.append(Inline(compress(block.data[us:], INLINE_LEVEL), BODY))
        raw_start = block.next_coffset
    if ce > raw_start:
        parts.append(ByteRange(raw_start, ce, BODY))
    if ue:
        parts.append(Inline(compress(reader.block(ce).data[:ue], INLINE_LEVEL), BODY))
    return parts


def _coalesce(parts: list[Part]) -> Iterator[Part]:
    """Join byte ranges that touch or overlap and consecutive inline parts (same class)."""
    pending: ByteRange | None = None
    inline: Inline | None = None
    for part in parts:
        if isinstance(part, Inline):
            if pending is not None:
                yield pending
                pending = None
            if inline is not None and inline.cls == part.cls:
                inline = Inline(inline.data + part.data, part.cls)
            else:
                if inline is not None:
                    yield inline
                inline = part
            continue
        if inline is not None:
            yield inline
            inline = None
        if isinstance(part, ByteRange):
            if pending is not None and pending.cls == part.cls and part.start <= pending.end:
                pending = ByteRange(pending.start, max(pending.end, part.end), pending.cls)
                continue
            if pending is not None:
                yield pending
            pending = part
    if pending is not None:
        yield pending
    if inline is not None:
        yield inline


@dataclass
class CramLayout:
    """What a ticket for a CRAM file needs."""

    source: ByteSource
    header: Header  # header.end is a byte offset (first data container)
    crai: list[CraiEntry]
    tids: dict[str, int | None]
    eof_present: bool

    @property
    def eof_start(self) -> int:
        return self.source.size - (len(CRAM3_EOF) if self.eof_present else 0)


def cram_ticket(layout: CramLayout, query: Query, object_id: str) -> Ticket:
    """Ticket for a CRAM file: whole containers holding slices that overlap the regions."""
    parts: list[Part] = [ByteRange(0, layout.header.end, HEADER)]
    eof_start = layout.eof_start
    if not query.header_only:
        containers = sorted({e.container for e in layout.crai})
        next_of = {c: n for c, n in zip(containers, [*containers[1:], eof_start], strict=True)}
        wanted: set[int] = set()
        if query.regions is None:
            if layout.header.end < eof_start:
                parts.append(ByteRange(layout.header.end, eof_start, BODY))
        else:
            for region in query.regions:
                if region.reference_name == "*":
                    wanted |= {e.container for e in layout.crai if e.seq_id == -1}
                    continue
                tid = _resolve(layout.tids, region, object_id)
                if tid is None:
                    continue
                beg = region.start or 0
                end = region.end if region.end is not None else 1 << 62
                if beg >= end:
                    continue
                wanted |= {
                    e.container for e in layout.crai
                    if e.seq_id == tid and e.start < end and e.start + e.span > beg
                }
            parts.extend(ByteRange(c, next_of[c], BODY) for c in sorted(wanted))
    if layout.eof_present:
        parts.append(Inline(CRAM3_EOF, HEADER if query.header_only else BODY))
    return Ticket(query.format, tuple(_coalesce(parts)))
