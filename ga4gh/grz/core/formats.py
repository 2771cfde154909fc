"""Recognising a decrypted file's format from its first bytes.

Magic numbers per the hts-specs: SAM/BAM v1 section 4.2 (``BAM\\1`` inside BGZF), CRAM 3.1
section 6 (``CRAM`` file definition), VCF 4.3 section 1.4.1 (``##fileformat=VCFv4.x``), BCF 2.2
(``BCF\\2``); FASTQ (Cock et al. 2010, NAR 38:1767) and UCSC BED (three tab-separated columns,
``track``/``browser``/``#`` header lines).
"""

from __future__ import annotations

import zlib
from enum import StrEnum

# Enough plaintext to see a BGZF block and a few text records.
SNIFF_BYTES = 256 * 1024


class FileFormat(StrEnum):
    """Formats the GRZ recognises."""

    fastq = "FASTQ"
    bam = "BAM"
    cram = "CRAM"
    vcf = "VCF"
    bcf = "BCF"
    bed = "BED"
    unknown = "unknown"


# Declared metadata fileType -> formats whose content satisfies it.
ACCEPTED: dict[str, frozenset[FileFormat]] = {
    "fastq": frozenset({FileFormat.fastq}),
    "bam": frozenset({FileFormat.bam}),
    "cram": frozenset({FileFormat.cram}),
    "vcf": frozenset({FileFormat.vcf}),
    "bed": frozenset({FileFormat.bed}),
}


def _gunzip_head(head: bytes) -> bytes:
    """Decompress as much of a gzip/BGZF prefix as is present (multi-member aware)."""
    out = bytearray()
    data = head
    while data and len(out) < SNIFF_BYTES:
        d = zlib.decompressobj(wbits=31)
        try:
            out += d.decompress(data, SNIFF_BYTES)
        except zlib.error:
            break
        if not d.eof:
            break
        data = d.unused_data
    return bytes(out)


def detect_format(head: bytes) -> FileFormat:
    """The format of a file whose first bytes are ``head``."""
    if head.startswith(b"CRAM"):
        return FileFormat.cram
    text = _gunzip_head(head) if head[:2] == b"\x1f\x8b" else head
    if text.startswith(b"BAM\x01"):
        return FileFormat.bam
    if text.startswith(b"BCF\x02"):
        return FileFormat.bcf
    if text.startswith(b"##fileformat=VCF"):
        return FileFormat.vcf
    if text.startswith(b"@") and _looks_like_fastq(text):
        return FileFormat.fastq
    if _looks_like_bed(text):
        return FileFormat.bed
    return FileFormat.unknown


def _complete_lines(text: bytes) -> list[bytes]:
    lines = text.split(b"\n")
    # The last piece may be cut off by the sniff window unless the text ended there.
    return lines[:-1] if len(lines) > 1 else lines


def _looks_like_fastq(text: bytes) -> bool:
    lines = [ln.rstrip(b"\r") for ln in _complete_lines(text)]
    records = 0
    for i in range(0, len(lines) - 3, 4):
        name, seq, plus, qual = lines[i : i + 4]
        if not name.startswith(b"@") or not plus.startswith(b"+") or len(seq) != len(qual):
            return False
        records += 1
    return records > 0


def _looks_like_bed(text: bytes) -> bool:
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        return False
    seen = 0
    for line in _complete_lines(decoded.encode())[:1000]:
        s = line.decode().rstrip("\r")
        if not s or s.startswith(("#", "track", "browser")):
            continue
        cols = s.split("\t")
        if len(cols) < 3 or not cols[1].isdigit() or not cols[2].isdigit():
            return False
        if int(cols[1]) > int(cols[2]):
            return False
        seen += 1
    return seen > 0


def format_matches(declared_type: str, detected: FileFormat) -> bool:
    """True if content of ``detected`` format satisfies the metadata fileType ``declared_type``."""
    return detected in ACCEPTED.get(declared_type, frozenset())
