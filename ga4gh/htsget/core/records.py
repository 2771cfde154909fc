"""Headers and records of BGZF-compressed BAM (SAMv1 section 4.2), VCF (VCFv4.3) and BCF
(VCFv4.3 section 6), read just far enough to know where each record starts and which
reference interval it covers. Coordinates are 0-based, half-open.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ga4gh.htsget.core.bgzf import BlockReader, CorruptData, Stream

_CIGAR_REF = frozenset((0, 2, 3, 7, 8))  # M, D, N, =, X consume the reference
_CONTIG_RE = re.compile(rb"^##contig=<(.*)>\s*$")


@dataclass(frozen=True)
class Header:
    """What tickets need from a file header."""

    names: list[str]  # reference names in the order records number them
    lengths: dict[str, int]  # known reference lengths
    end: int  # virtual offset of the first record


def read_bam_header(reader: BlockReader) -> Header:
    """Parse a BAM header (magic, text, reference dictionary)."""
    s = Stream(reader, 0)
    if s.read(4) != b"BAM\x01":
        raise CorruptData("not a BAM file")
    (l_text,) = struct.unpack("<i", s.read(4))
    s.skip(l_text)
    (n_ref,) = struct.unpack("<i", s.read(4))
    names, lengths = [], {}
    for _ in range(n_ref):
        (l_name,) = struct.unpack("<i", s.read(4))
        name = s.read(l_name).rstrip(b"\0").decode()
        (l_ref,) = struct.unpack("<i", s.read(4))
        names.append(name)
        lengths[name] = l_ref
    return Header(names, lengths, s.tell())


def _contig_fields(line: bytes) -> dict[bytes, bytes]:
    m = _CONTIG_RE.match(line)
    if not m:
        return {}
    fields: dict[bytes, bytes] = {}
    for part in re.findall(rb'([A-Za-z_]+)=("[^"]*"|[^,]*)', m.group(1)):
        fields[part[0]] = part[1].strip(b'"')
    return fields


def _contigs(lines: list[bytes], use_idx: bool) -> tuple[list[str], dict[str, int]]:
    by_index: dict[int, str] = {}
    lengths: dict[str, int] = {}
    order = 0
    for line in lines:
        f = _contig_fields(line)
        if b"ID" not in f:
            continue
        name = f[b"ID"].decode()
        idx = int(f[b"IDX"]) if use_idx and b"IDX" in f else order
        by_index[idx] = name
        order = max(order, idx) + 1
        if f.get(b"length", b"").isdigit():
            lengths[name] = int(f[b"length"])
    names = [by_index.get(i, "") for i in range(max(by_index, default=-1) + 1)]
    return names, lengths


def read_vcf_header(reader: BlockReader) -> Header:
    """Parse the meta-information and #CHROM lines of a bgzipped VCF."""
    s = Stream(reader, 0)
    lines: list[bytes] = []
    while True:
        pos = s.tell()
        line = s.readline()
        if not line.startswith(b"#"):
            if not lines or not lines[-1].startswith(b"#CHROM"):
                raise CorruptData("VCF header does not end with a #CHROM line")
            names, lengths = _contigs(lines, use_idx=False)
            return Header(names, lengths, pos)
        lines.append(line)
        if not line.endswith(b"\n"):
            raise CorruptData("VCF header is truncated")


def read_bcf_header(reader: BlockReader) -> Header:
    """Parse a BCF2 header; contigs are numbered by their IDX (or order of appearance)."""
    s = Stream(reader, 0)
    magic = s.read(5)
    if magic[:3] != b"BCF" or magic[3] != 2:
        raise CorruptData("not a BCF2 file")
    (l_text,) = struct.unpack("<I", s.read(4))
    text = s.read(l_text)
    names, lengths = _contigs(text.rstrip(b"\0").split(b"\n"), use_idx=True)
    return Header(names, lengths, s.tell())


# (virtual offset, reference number, start, end); end is exact only for records that start
# before the ``beg`` the scan was given (later records overlap whenever they start in range).
RecordTuple = tuple[int, int, int, int]
_BAM_HEAD = struct.Struct("<iiBBHHH")  # refID, pos, l_read_name, mapq, bin, n_cigar_op, flag
_BCF_HEAD = struct.Struct("<iii")  # CHROM, POS, rlen
_U32 = struct.Struct("<I")


def _bam_fields(buf: bytes, p: int, beg: int) -> tuple[int, int, int]:
    tid, pos, l_read_name, _mapq, _bin, n_cigar, flag = _BAM_HEAD.unpack_from(buf, p + 4)
    if pos >= beg or not n_cigar or flag & 4:
        return tid, pos, pos + 1
    at = p + 36 + l_read_name
    if n_cigar == 1:  # the common case: one M
        (op,) = _U32.unpack_from(buf, at)
        span = op >> 4 if (op & 0xF) in _CIGAR_REF else 0
    else:
        ops = struct.unpack_from(f"<{n_cigar}I", buf, at)
        span = sum(op >> 4 for op in ops if (op & 0xF) in _CIGAR_REF)
    return tid, pos, pos + max(span, 1)


def _bcf_fields(buf: bytes, p: int, beg: int) -> tuple[int, int, int]:
    chrom, pos, rlen = _BCF_HEAD.unpack_from(buf, p + 8)
    return chrom, pos, pos + rlen


def _bam_length(buf: bytes, p: int) -> int:
    return 4 + int(_U32.unpack_from(buf, p)[0])


def _bcf_length(buf: bytes, p: int) -> int:
    return 8 + int(_U32.unpack_from(buf, p)[0]) + int(_U32.unpack_from(buf, p + 4)[0])


def _binary_records(
    reader: BlockReader, start: int, beg: int, head: int, length: Any, fields: Any
) -> Iterator[RecordTuple]:
    """Records of a binary BGZF format, walking block data directly (records may span
    blocks; such a record is assembled from the blocks it spans)."""
    size = reader.size
    block = reader.block(start >> 16)
    data, p = block.data, start & 0xFFFF
    while True:
        n = len(data)
        coff = block.coffset << 16
        while p + head <= n:
            total = length(data, p)
            if p + total > n:
                break
            tid, pos, end = fields(data, p, beg)
            yield coff | p, tid, pos, end
            p += total
        if block.next_coffset >= size:
            if p < n:
                raise CorruptData("record is truncated at the end of the file")
            return
        nxt = reader.block(block.next_coffset)
        if p >= n:
            block, data, p = nxt, nxt.data, 0
            continue
        # A record that continues in the next block(s).
        rec_v = coff | p
        buf = data[p:]
        cur = nxt
        while True:
            before = len(buf)
            buf += cur.data
            if len(buf) >= head and len(buf) >= length(buf, 0):
                break
            if cur.next_coffset >= size:
                raise CorruptData("record is truncated at the end of the file")
            cur = reader.block(cur.next_coffset)
        total = length(buf, 0)
        tid, pos, end = fields(buf, 0, beg)
        yield rec_v, tid, pos, end
        block, data, p = cur, cur.data, total - before


def bam_records(reader: BlockReader, start: int, beg: int = 0) -> Iterator[RecordTuple]:
    """BAM records from virtual offset ``start`` on."""
    return _binary_records(reader, start, beg, 4, _bam_length, _bam_fields)


def bcf_records(reader: BlockReader, start: int, beg: int = 0) -> Iterator[RecordTuple]:
    """BCF2 records from virtual offset ``start`` on."""
    return _binary_records(reader, start, beg, 8, _bcf_length, _bcf_fields)


def vcf_records(
    reader: BlockReader, start: int, tids: dict[str, int], beg: int = 0
) -> Iterator[RecordTuple]:
    """VCF data lines from virtual offset ``start`` on; CHROM mapped through ``tids``."""
    stream = Stream(reader, start)
    while not stream.at_end():
        v = stream.tell()
        line = stream.readline()
        fields = line.split(b"\t", 8)
        if len(fields) < 8:
            if not line.strip():
                continue
            raise CorruptData("VCF line has fewer than eight fields")
        pos = int(fields[1]) - 1
        end = pos + len(fields[3])
        info = fields[7]
        if b"END=" in info:
            # As htslib's tabix does: INFO END, when present, is the record's end.
            for item in info.split(b";"):
                if item.startswith(b"END=") and item[4:].isdigit():
                    end = int(item[4:])
        yield v, tids.get(fields[0].decode(), -2), pos, end
