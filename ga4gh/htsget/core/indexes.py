"""Parsers of the index formats htsget tickets are computed from.

- BAI: SAMv1 section 5.2 (binning index with a 16 kbp linear index).
- CSI: CSIv1 (hts-specs CSIv1.tex; generalised binning with per-bin ``loffset``).
- TBI: SAMtools tabix.pdf (BAI layout plus sequence names; BGZF-compressed).
- CRAI: CRAM 3.1 section 12 (gzip-compressed text, one line per slice).

Bins: a bin at level ``l`` (0 = root) of an index with ``depth`` levels and ``min_shift``
covers ``2**(min_shift + 3*(depth-l))`` bases. htslib adds one pseudo-bin per reference
(number ``((1 << 3*(depth+1)) - 1) // 7 + 1``) holding the virtual offsets of the reference's
first and last record and its mapped/unmapped counts (SAMv1 section 5.2, bin 37450 for BAI).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field

Chunk = tuple[int, int]  # (begin, end) virtual offsets


class IndexError_(ValueError):
    """An index file is malformed."""


@dataclass
class ReferenceIndex:
    """The binning index of one reference sequence."""

    bins: dict[int, list[Chunk]] = field(default_factory=dict)
    # BAI/TBI: virtual offset of the first record overlapping each 2**min_shift window.
    linear: list[int] = field(default_factory=list)
    # CSI: virtual offset of the first record overlapping each bin.
    loffsets: dict[int, int] = field(default_factory=dict)
    # From the pseudo-bin: (first record, end of last record, n_mapped, n_unmapped).
    meta: tuple[int, int, int, int] | None = None

    def max_chunk_end(self) -> int:
        """Largest chunk end over all bins (0 if the reference has no records)."""
        ends = [c[1] for chunks in self.bins.values() for c in chunks]
        if self.meta is not None:
            ends.append(self.meta[1])
        return max(ends, default=0)


@dataclass
class BinningIndex:
    """A parsed BAI, CSI or TBI index."""

    kind: str  # "BAI", "CSI" or "TBI"
    min_shift: int
    depth: int
    refs: list[ReferenceIndex]
    # Sequence names in index order (TBI, and CSI written by tabix/bcftools for VCF).
    names: list[str] | None = None
    n_no_coor: int | None = None

    @property
    def meta_bin(self) -> int:
        return ((1 << (3 * (self.depth + 1))) - 1) // 7 + 1

    def level_offset(self, level: int) -> int:
        """Number of the first bin at a level."""
        return ((1 << (3 * level)) - 1) // 7

    def bin_range(self, bin_no: int) -> tuple[int, int]:
        """[start, end) in bases covered by a bin."""
        level = 0
        while level < self.depth and bin_no >= self.level_offset(level + 1):
            level += 1
        shift = self.min_shift + 3 * (self.depth - level)
        first = bin_no - self.level_offset(level)
        return first << shift, (first + 1) << shift

    def reg2bins(self, beg: int, end: int) -> list[int]:
        """Bins that may hold records overlapping [beg, end) (SAMv1 5.3 reg2bins)."""
        if end <= beg:
            return []
        last = end - 1
        bins: list[int] = []
        for level in range(self.depth + 1):
            shift = self.min_shift + 3 * (self.depth - level)
            off = self.level_offset(level)
            bins.extend(range(off + (beg >> shift), off + (last >> shift) + 1))
        return bins

    def bin_bottom(self, pos: int) -> int:
        """The smallest (deepest) bin containing a position."""
        return self.level_offset(self.depth) + (pos >> self.min_shift)

    def parent(self, bin_no: int) -> int:
        return (bin_no - 1) >> 3

    def lower_bound(self, tid: int, pos: int) -> int:
        """A virtual offset at or before the first record overlapping ``pos`` (a record start)."""
        ref = self.refs[tid]
        if self.kind != "CSI":
            if not ref.linear:
                return 0
            window = pos >> self.min_shift
            return ref.linear[min(window, len(ref.linear) - 1)]
        bin_no = self.bin_bottom(pos)
        while True:
            if bin_no in ref.loffsets:
                return ref.loffsets[bin_no]
            if bin_no == 0:
                return 0
            bin_no = self.parent(bin_no)

    def chunks(self, tid: int, beg: int, end: int) -> list[Chunk]:
        """Chunks of the bins overlapping [beg, end), without the pseudo-bin."""
        ref = self.refs[tid]
        wanted = self.reg2bins(beg, end)
        if len(wanted) > len(ref.bins):
            selected = [
                b for b in ref.bins
                if b != self.meta_bin and self._overlaps(b, beg, end)
            ]
        else:
            selected = [b for b in wanted if b in ref.bins]
        return [c for b in selected for c in ref.bins[b]]

    def _overlaps(self, bin_no: int, beg: int, end: int) -> bool:
        lo, hi = self.bin_range(bin_no)
        return lo < end and hi > beg


def _need(data: bytes, pos: int, n: int) -> None:
    if pos + n > len(data):
        raise IndexError_("index file is truncated")


def _inflate_bgzf(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise IndexError_(f"index is not valid BGZF: {exc}") from exc


def _refs(
    data: bytes, pos: int, n_ref: int, meta_bin: int, csi: bool
) -> tuple[list[ReferenceIndex], int]:
    refs: list[ReferenceIndex] = []
    for _ in range(n_ref):
        ref = ReferenceIndex()
        _need(data, pos, 4)
        (n_bin,) = struct.unpack_from("<i", data, pos)
        pos += 4
        for _ in range(n_bin):
            if csi:
                _need(data, pos, 16)
                bin_no, loffset, n_chunk = struct.unpack_from("<IQi", data, pos)
                pos += 16
            else:
                _need(data, pos, 8)
                bin_no, n_chunk = struct.unpack_from("<Ii", data, pos)
                pos += 8
                loffset = 0
            _need(data, pos, 16 * n_chunk)
            flat = struct.unpack_from(f"<{2 * n_chunk}Q", data, pos)
            pos += 16 * n_chunk
            if bin_no == meta_bin and n_chunk == 2:
                ref.meta = (flat[0], flat[1], flat[2], flat[3])
                continue
            ref.bins[bin_no] = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
            if csi:
                ref.loffsets[bin_no] = loffset
        if not csi:
            _need(data, pos, 4)
            (n_intv,) = struct.unpack_from("<i", data, pos)
            pos += 4
            _need(data, pos, 8 * n_intv)
            ref.linear = list(struct.unpack_from(f"<{n_intv}Q", data, pos))
            pos += 8 * n_intv
        refs.append(ref)
    return refs, pos


def _n_no_coor(data: bytes, pos: int) -> int | None:
    if len(data) >= pos + 8:
        return int(struct.unpack_from("<Q", data, pos)[0])
    return None


def _tabix_names(data: bytes, pos: int) -> tuple[list[str], int]:
    """The tabix header fields after magic/n_ref; returns names and the position after."""
    # format, col_seq, col_beg, col_end, meta, skip, l_nm (seven int32).
    _need(data, pos, 28)
    l_nm = struct.unpack_from("<i", data, pos + 24)[0]
    pos += 28
    _need(data, pos, l_nm)
    names = [n.decode() for n in data[pos : pos + l_nm].split(b"\0") if n]
    return names, pos + l_nm


def parse_bai(data: bytes) -> BinningIndex:
    """Parse a BAI index (uncompressed)."""
    if data[:4] != b"BAI\x01":
        raise IndexError_("not a BAI index")
    _need(data, 4, 4)
    (n_ref,) = struct.unpack_from("<i", data, 4)
    index = BinningIndex("BAI", 14, 5, [])
    index.refs, pos = _refs(data, 8, n_ref, index.meta_bin, csi=False)
    index.n_no_coor = _n_no_coor(data, pos)
    return index


def parse_tbi(compressed: bytes) -> BinningIndex:
    """Parse a tabix index (BGZF-compressed)."""
    data = _inflate_bgzf(compressed)
    if data[:4] != b"TBI\x01":
        raise IndexError_("not a tabix index")
    _need(data, 4, 4)
    (n_ref,) = struct.unpack_from("<i", data, 4)
    names, pos = _tabix_names(data, 8)
    index = BinningIndex("TBI", 14, 5, [], names=names)
    index.refs, pos = _refs(data, pos, n_ref, index.meta_bin, csi=False)
    index.n_no_coor = _n_no_coor(data, pos)
    return index


def parse_csi(compressed: bytes) -> BinningIndex:
    """Parse a CSI index (BGZF-compressed); tabix metadata in ``aux`` gives names."""
    data = _inflate_bgzf(compressed)
    if data[:4] != b"CSI\x01":
        raise IndexError_("not a CSI index")
    _need(data, 4, 12)
    min_shift, depth, l_aux = struct.unpack_from("<iii", data, 4)
    pos = 16
    _need(data, pos, l_aux)
    aux = data[pos : pos + l_aux]
    pos += l_aux
    names = None
    if l_aux >= 28:
        names, _ = _tabix_names(aux, 0)
    _need(data, pos, 4)
    (n_ref,) = struct.unpack_from("<i", data, pos)
    pos += 4
    index = BinningIndex("CSI", min_shift, depth, [], names=names)
    index.refs, pos = _refs(data, pos, n_ref, index.meta_bin, csi=True)
    index.n_no_coor = _n_no_coor(data, pos)
    return index


@dataclass(frozen=True)
class CraiEntry:
    """One CRAI line: a slice of a container (CRAM 3.1 section 12)."""

    seq_id: int  # -1: unmapped reads
    start: int  # 0-based (the file holds 1-based alignment starts)
    span: int
    container: int  # byte offset of the container
    slice_offset: int
    slice_size: int


def parse_crai(compressed: bytes) -> list[CraiEntry]:
    """Parse a CRAI index (gzip-compressed text)."""
    try:
        text = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as exc:
        raise IndexError_(f"CRAI index is not gzip-compressed: {exc}") from exc
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(b"\t")
        if len(parts) != 6:
            raise IndexError_("CRAI line does not have six fields")
        seq_id, start, span, container, slice_offset, slice_size = (int(p) for p in parts)
        entries.append(
            CraiEntry(seq_id, max(0, start - 1), span, container, slice_offset, slice_size)
        )
    return entries
