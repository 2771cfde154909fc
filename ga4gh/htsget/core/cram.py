"""CRAM 3.x file structure (CRAM 3.1 sections 6-9): file definition, the header container
holding the SAM header, and the end-of-file container."""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib

from ga4gh.catalogue.core.formats import CRAM3_EOF
from ga4gh.htsget.core.bgzf import ByteSource, CorruptData
from ga4gh.htsget.core.records import Header

FILE_DEFINITION = 26


def _itf8(data: bytes, pos: int) -> tuple[int, int]:
    """ITF8 integer at pos (CRAM 3.1 section 2.3); returns (value, next position)."""
    b0 = data[pos]
    if b0 < 0x80:
        return b0, pos + 1
    if b0 < 0xC0:
        return ((b0 & 0x3F) << 8) | data[pos + 1], pos + 2
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 16) | (data[pos + 1] << 8) | data[pos + 2], pos + 3
    if b0 < 0xF0:
        return (((b0 & 0x0F) << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8)
                | data[pos + 3]), pos + 4
    value = ((b0 & 0x0F) << 28) | (data[pos + 1] << 20) | (data[pos + 2] << 12) | (
        data[pos + 3] << 4) | (data[pos + 4] & 0x0F)
    if value >= 1 << 31:
        value -= 1 << 32
    return value, pos + 5


def _ltf8(data: bytes, pos: int) -> tuple[int, int]:
    """LTF8 integer at pos: the number of leading 1 bits gives the extra bytes."""
    b0 = data[pos]
    extra = 0
    while extra < 8 and b0 & (0x80 >> extra):
        extra += 1
    if extra == 8:
        return int.from_bytes(data[pos + 1 : pos + 9], "big"), pos + 9
    value = b0 & (0xFF >> (extra + 1))
    for i in range(extra):
        value = (value << 8) | data[pos + 1 + i]
    return value, pos + 1 + extra


def _container_header(data: bytes, pos: int, major: int) -> tuple[int, int]:
    """(length of the container's blocks, position after the container header)."""
    (length,) = struct.unpack_from("<i", data, pos)
    pos += 4
    for _ in range(4):  # ref seq id, start, span, n_records
        _, pos = _itf8(data, pos)
    _, pos = _ltf8(data, pos)  # record counter
    _, pos = _ltf8(data, pos)  # bases
    _, pos = _itf8(data, pos)  # number of blocks
    n_landmarks, pos = _itf8(data, pos)
    for _ in range(n_landmarks):
        _, pos = _itf8(data, pos)
    if major >= 3:
        pos += 4  # CRC32
    return length, pos


def _block_data(data: bytes, pos: int) -> bytes:
    method = data[pos]
    pos += 2  # method, content type
    _, pos = _itf8(data, pos)  # content id
    size, pos = _itf8(data, pos)
    raw_size, pos = _itf8(data, pos)
    payload = data[pos : pos + size]
    if method == 0:
        return payload
    if method == 1:
        return zlib.decompress(payload, 31)
    if method == 2:
        return bz2.decompress(payload)
    if method == 3:
        return lzma.decompress(payload)
    raise CorruptData(f"CRAM header block uses unsupported compression method {method}")


def read_cram_header(source: ByteSource) -> Header:
    """Parse the file definition and SAM header; ``end`` is the first data container's offset
    (a plain byte offset, not a virtual offset)."""
    head = source.read(0, 1 << 20)
    if head[:4] != b"CRAM":
        raise CorruptData("not a CRAM file")
    major = head[4]
    if major < 3:
        raise CorruptData("only CRAM 3.x is supported")
    try:
        length, body = _container_header(head, FILE_DEFINITION, major)
        end = body + length
        if end > len(head):
            head = source.read(0, end)
        text_block = _block_data(head, body)
    except (IndexError, struct.error, zlib.error, lzma.LZMAError, OSError) as exc:
        raise CorruptData("CRAM header container is malformed") from exc
    (l_text,) = struct.unpack_from("<i", text_block, 0)
    text = text_block[4 : 4 + l_text].decode("utf-8", "replace")
    names: list[str] = []
    lengths: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("@SQ"):
            tags = dict(t.split(":", 1) for t in line.split("\t")[1:] if ":" in t)
            if "SN" in tags:
                names.append(tags["SN"])
                if tags.get("LN", "").isdigit():
                    lengths[tags["SN"]] = int(tags["LN"])
    return Header(names, lengths, end)


def has_eof_container(source: ByteSource) -> bool:
    """True if the object ends with the CRAM 3 EOF container."""
    size = source.size
    return size >= len(CRAM3_EOF) and source.read(size - len(CRAM3_EOF), len(CRAM3_EOF)) == (
        CRAM3_EOF
    )
