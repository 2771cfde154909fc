"""Recognising genomic container formats from their first and last bytes.

BGZF: SAMv1 section 4.1 (gzip members with a ``BC`` extra subfield holding BSIZE; the
28-byte empty block marks end of file, section 4.1.2). CRAM: CRAM 3.1 section 8 (file
definition ``CRAM`` + major/minor) and section 9 (the end-of-file container). BCF2: VCF 4.3
section 6 (``BCF\\2\\2`` magic after BGZF decompression).
"""

from __future__ import annotations

import struct
import zlib

from common.errors import InvalidInput
from ga4gh.catalogue.core.model import FileFormat

# SAMv1 section 4.1.2: the BGZF end-of-file marker block.
BGZF_EOF = bytes.fromhex(
    "1f8b08040000000000ff0600424302001b0003000000000000000000"
)
# CRAM 3.x end-of-file container (CRAM 3.1 section 9).
CRAM3_EOF = bytes.fromhex(
    "0f000000ffffffff0fe0454f4600000000010005bdd94f0001000606010001000100ee63014b"
)


class BadFile(InvalidInput):
    """A file is not what it claims to be, or is truncated or corrupt."""


def is_bgzf(head: bytes) -> bool:
    """True if the bytes start a BGZF block (gzip with FEXTRA and a ``BC`` subfield)."""
    return (
        len(head) >= 18
        and head[:4] == b"\x1f\x8b\x08\x04"
        and head[12:14] == b"BC"
        and struct.unpack_from("<H", head, 14)[0] == 2
    )


def is_gzip(head: bytes) -> bool:
    """True for any gzip stream (BGZF or not)."""
    return head[:2] == b"\x1f\x8b"


def bgzf_block_size(header: bytes) -> int:
    """Total size of the BGZF block whose first 18 bytes are given (BSIZE + 1)."""
    if not is_bgzf(header):
        raise BadFile("not a BGZF block")
    return int(struct.unpack_from("<H", header, 16)[0]) + 1


def inflate_first_block(head: bytes) -> bytes:
    """Decompressed payload of the first BGZF block in ``head`` (empty if it is incomplete)."""
    if not is_bgzf(head):
        return b""
    size = bgzf_block_size(head)
    if len(head) < size:
        return b""
    xlen = struct.unpack_from("<H", head, 10)[0]
    try:
        return zlib.decompress(head[12 + xlen : size - 8], -15)
    except zlib.error as exc:
        raise BadFile(f"corrupt BGZF block at offset 0: {exc}") from exc


def detect_format(head: bytes) -> FileFormat:
    """The container format of a file from its first bytes (64 KiB suffice)."""
    if head[:4] == b"CRAM":
        return FileFormat.CRAM
    if is_bgzf(head):
        payload = inflate_first_block(head)
        if payload.startswith(b"BAM\x01"):
            return FileFormat.BAM
        if payload.startswith(b"BCF\x02"):
            return FileFormat.BCF
        if payload.startswith(b"##fileformat=VCF"):
            return FileFormat.VCF
        if payload.lstrip().startswith(b">"):
            return FileFormat.FASTA
        raise BadFile("BGZF-compressed file is neither BAM, BCF, VCF nor FASTA")
    if is_gzip(head):
        raise BadFile(
            "file is gzip- but not BGZF-compressed: recompress it with `bgzip` "
            "so it can be indexed and sliced"
        )
    if head.startswith(b"##fileformat=VCF"):
        raise BadFile("plain-text VCF cannot be indexed: compress it with `bgzip` first")
    if head.lstrip().startswith(b">"):
        return FileFormat.FASTA
    if head.startswith(b"@HD") or head.startswith(b"@SQ"):
        raise BadFile("SAM text is not accepted: convert it to BAM or CRAM first")
    raise BadFile("unrecognised file format (expected BAM, CRAM, BGZF VCF, BCF or FASTA)")


def check_complete(fmt: FileFormat, head: bytes, tail: bytes) -> None:
    """Raise BadFile if a file of this format lacks its end-of-file marker (truncation)."""
    if fmt in (FileFormat.BAM, FileFormat.BCF, FileFormat.VCF) or (
        fmt is FileFormat.FASTA and is_bgzf(head)
    ):
        if not tail.endswith(BGZF_EOF):
            raise BadFile(
                f"{fmt.value} file is truncated: the BGZF end-of-file block is missing"
            )
    elif fmt is FileFormat.CRAM:
        major = head[4] if len(head) > 4 else 0
        if major >= 3 and not tail.endswith(CRAM3_EOF):
            raise BadFile("CRAM file is truncated: the end-of-file container is missing")
        if major < 3:
            raise BadFile(f"CRAM version {major} is not supported (need CRAM 3.x)")


class BgzfChainChecker:
    """Walks the chain of BGZF block headers of a stream fed in arbitrary chunks.

    Each block's BSIZE says where the next one starts (SAMv1 section 4.1); a chain that does
    not land exactly on the end of the file, or a block that does not start with the BGZF
    magic, means the file is truncated or corrupt. Costs no decompression.
    """

    def __init__(self) -> None:
        self._offset = 0  # bytes of the stream seen so far
        self._next = 0  # offset of the next block header
        self._carry = b""  # header bytes of the next block that straddle chunks
        self.blocks = 0

    def feed(self, chunk: bytes) -> None:
        """Consume the next chunk of the stream."""
        start = self._offset
        self._offset += len(chunk)
        while self._next < self._offset:
            rel = self._next - start
            # rel < 0: the header began in an earlier chunk.
            header = (
                self._carry + chunk[: 18 - len(self._carry)] if rel < 0 else chunk[rel : rel + 18]
            )
            if len(header) < 18:
                self._carry = header
                return
            self._carry = b""
            if not is_bgzf(header):
                raise BadFile(f"corrupt BGZF stream: no block header at byte {self._next}")
            self._next += bgzf_block_size(header)
            self.blocks += 1

    def finish(self) -> None:
        """Raise BadFile unless the last block ended exactly at the end of the stream."""
        if self._carry or self._next != self._offset:
            raise BadFile("BGZF file is truncated: the last block is incomplete")
