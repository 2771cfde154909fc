"""Headers and records of BGZF-compressed BAM (SAMv1 section 4.2), VCF (VCFv4.3) and BCF
(VCFv4.3 section 6), read just far enough to know where each record starts and which
reference interval it covers. Coordinates are 0-based, half-open.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ga4gh.htsget.core.bgzf import BlockReader, CorruptData, Stream

_CIGAR_REF = frozenset((0, 2, 3, 7, 8))  # M, D, N, =, X consume the reference
_CONTIG_RE = re.compile(rb"^##contig=<(.*)>\s*$")


@dataclass(frozen=True)
class Header:
    """What tickets need from a file header."""

    names: list[str]  # reference names in the order records number them
    lengths: dict[str, int]  # known reference lengths
    end: int  # virtual offset of the first record


@dataclass(frozen=True)
class Record:
    """Where a record starts (virtual offset) and what it covers."""

    voffset: int
    tid: int  # -1: unplaced
    start: int
    end: int


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


def bam_records(stream: Stream) -> Iterator[Record]:
    """BAM records from the stream's position on."""
    while not stream.at_end():
        v = stream.tell()
        head = stream.read(36)
        if len(head) < 36:
            raise CorruptData("BAM record is truncated")
        block_size, tid, pos, l_read_name, _mapq, _bin, n_cigar, flag = struct.unpack_from(
            "<iiiBBHHH", head
        )
        rest = stream.read(block_size - 32)
        if len(rest) < block_size - 32:
            raise CorruptData("BAM record is truncated")
        end = pos + 1
        if n_cigar and not flag & 4:
            off = l_read_name  # rest starts at read_name; the CIGAR follows it
            ops = struct.unpack_from(f"<{n_cigar}I", rest, off)
            span = sum(op >> 4 for op in ops if (op & 0xF) in _CIGAR_REF)
            end = pos + max(span, 1)
        yield Record(v, tid, pos, end)


def vcf_records(stream: Stream, tids: dict[str, int]) -> Iterator[Record]:
    """VCF data lines from the stream's position on; CHROM mapped through ``tids``."""
    while not stream.at_end():
        v = stream.tell()
        line = stream.readline()
        fields = line.split(b"\t", 8)
        if len(fields) < 8:
            if not line.strip():
                continue
            raise CorruptData("VCF line has fewer than eight fields")
        chrom = fields[0].decode()
        start = int(fields[1]) - 1
        end = start + len(fields[3])
        info = fields[7]
        if b"END=" in info:
            # As htslib's tabix does: INFO END, when present, is the record's end.
            for item in info.split(b";"):
                if item.startswith(b"END=") and item[4:].isdigit():
                    end = int(item[4:])
        yield Record(v, tids.get(chrom, -2), start, end)


def bcf_records(stream: Stream) -> Iterator[Record]:
    """BCF2 records from the stream's position on."""
    while not stream.at_end():
        v = stream.tell()
        head = stream.read(20)
        if len(head) < 20:
            raise CorruptData("BCF record is truncated")
        l_shared, l_indiv, chrom, pos, rlen = struct.unpack_from("<IIiii", head)
        stream.skip(l_shared + l_indiv - 12)
        yield Record(v, chrom, pos, pos + rlen)
