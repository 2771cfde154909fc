"""BGZF (SAMv1 section 4.1): blocks, virtual file offsets and a block reader with a cache.

A virtual offset is ``coffset << 16 | uoffset``: the file offset of a BGZF block and an
offset into its decompressed data (section 4.1.1).
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ga4gh.catalogue.core.formats import BGZF_EOF, is_bgzf

MAX_BLOCK = 65536


def voffset(coffset: int, uoffset: int) -> int:
    """The virtual offset of byte ``uoffset`` in the block at ``coffset``."""
    return (coffset << 16) | uoffset


def coffset_of(v: int) -> int:
    """File offset of the block a virtual offset points into."""
    return v >> 16


def uoffset_of(v: int) -> int:
    """Offset into the decompressed block."""
    return v & 0xFFFF


class ByteSource(Protocol):
    """Random access to the bytes of a stored object."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer only at the end of the object)."""
        ...


@dataclass(frozen=True)
class Block:
    """One BGZF block: where it is, how long it is compressed, its decompressed data."""

    coffset: int
    csize: int
    data: bytes

    @property
    def next_coffset(self) -> int:
        return self.coffset + self.csize


class CorruptData(ValueError):
    """The stored bytes are not valid BGZF (the object changed or is damaged)."""


def compress_block(data: bytes, level: int = 6) -> bytes:
    """One BGZF block holding ``data`` (at most 65536 bytes)."""
    if len(data) > MAX_BLOCK:
        raise ValueError("a BGZF block holds at most 65536 bytes")
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    payload = comp.compress(data) + comp.flush()
    bsize = 18 + len(payload) + 8 - 1
    header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + struct.pack(
        "<H", bsize
    )
    return header + payload + struct.pack("<II", zlib.crc32(data), len(data))


def compress(data: bytes, level: int = 6) -> bytes:
    """BGZF blocks holding ``data`` (no EOF marker)."""
    # Stay below 64 KiB per block so incompressible data still fits in one block.
    step = 0xFF00
    return b"".join(compress_block(data[i : i + step], level) for i in range(0, len(data), step))


class BlockReader:
    """Reads and inflates BGZF blocks of one object; keeps recently used blocks (LRU)."""

    def __init__(self, source: ByteSource, cache_blocks: int = 256) -> None:
        self.source = source
        self._cache: OrderedDict[int, Block] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._cache_blocks = cache_blocks
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.source.size

    def block_size(self, coffset: int) -> int:
        """Compressed size of the block at coffset, reading only its 18-byte header."""
        with self._lock:
            known = self._sizes.get(coffset)
        if known is not None:
            return known
        header = self.source.read(coffset, 18)
        if not is_bgzf(header):
            raise CorruptData(f"no BGZF block at byte {coffset}")
        size = int(struct.unpack_from("<H", header, 16)[0]) + 1
        with self._lock:
            self._sizes[coffset] = size
        return size

    def block(self, coffset: int) -> Block:
        """The block at coffset, inflated."""
        with self._lock:
            hit = self._cache.get(coffset)
            if hit is not None:
                self._cache.move_to_end(coffset)
                return hit
        raw = self.source.read(coffset, MAX_BLOCK)
        if not is_bgzf(raw):
            raise CorruptData(f"no BGZF block at byte {coffset}")
        csize = int(struct.unpack_from("<H", raw, 16)[0]) + 1
        if len(raw) < csize:
            raise CorruptData(f"BGZF block at byte {coffset} is truncated")
        xlen = struct.unpack_from("<H", raw, 10)[0]
        try:
            data = zlib.decompress(raw[12 + xlen : csize - 8], -15)
        except zlib.error as exc:
            raise CorruptData(f"BGZF block at byte {coffset} does not inflate") from exc
        block = Block(coffset, csize, data)
        with self._lock:
            self._sizes[coffset] = csize
            self._cache[coffset] = block
            if len(self._cache) > self._cache_blocks:
                self._cache.popitem(last=False)
        return block

    def blocks_from(self, coffset: int) -> Iterator[Block]:
        """Blocks from coffset to the end of the file (the empty EOF block included)."""
        while coffset < self.size:
            block = self.block(coffset)
            yield block
            coffset = block.next_coffset

    def has_eof_marker(self) -> bool:
        """True if the object ends with the BGZF EOF block."""
        size = self.size
        return size >= 28 and self.source.read(size - 28, 28) == BGZF_EOF


class Stream:
    """Sequential reading of decompressed bytes from a virtual offset across blocks."""

    def __init__(self, reader: BlockReader, start: int) -> None:
        self.reader = reader
        self._block = reader.block(coffset_of(start))
        self._pos = uoffset_of(start)

    def tell(self) -> int:
        """Virtual offset of the next byte (normalised to the next block at a block end)."""
        self._skip_exhausted()
        return voffset(self._block.coffset, self._pos)

    def _skip_exhausted(self) -> bool:
        """Move past exhausted blocks; False at the end of the file."""
        while self._pos >= len(self._block.data):
            nxt = self._block.next_coffset
            if nxt >= self.reader.size:
                return False
            self._block = self.reader.block(nxt)
            self._pos = 0
        return True

    def at_end(self) -> bool:
        """True if no decompressed bytes remain."""
        return not self._skip_exhausted()

    def read(self, n: int) -> bytes:
        """Exactly n bytes, or fewer only at the end of the file."""
        out: list[bytes] = []
        while n > 0 and self._skip_exhausted():
            chunk = self._block.data[self._pos : self._pos + n]
            self._pos += len(chunk)
            n -= len(chunk)
            out.append(chunk)
        return b"".join(out)

    def readline(self) -> bytes:
        """Bytes up to and including the next newline (or to the end of the file)."""
        out: list[bytes] = []
        while self._skip_exhausted():
            data = self._block.data
            nl = data.find(b"\n", self._pos)
            if nl >= 0:
                out.append(data[self._pos : nl + 1])
                self._pos = nl + 1
                return b"".join(out)
            out.append(data[self._pos :])
            self._pos = len(data)
        return b"".join(out)

    def skip(self, n: int) -> None:
        """Advance n decompressed bytes."""
        while n > 0 and self._skip_exhausted():
            step = min(n, len(self._block.data) - self._pos)
            self._pos += step
            n -= step
