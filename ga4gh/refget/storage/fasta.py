"""Indexed FASTA on disk: the bases behind every registered sequence.

Only the requested bases are read, so a whole chromosome is streamed in chunks and never
held in memory. Uncompressed FASTA is read with ``os.pread`` at the offsets of its ``.fai``
(the faidx layout htslib defines) and cleaned in one ``bytes.translate`` pass: this halves the
time of large slices compared with ``pysam.FastaFile.fetch`` (which decodes to ``str``) and
``pread`` needs no per-thread handle. bgzip-compressed FASTA goes through
``pysam.FastaFile.fetch``; those handles are not thread-safe, so each thread keeps its own
small LRU of open handles (gunicorn gthread workers have a fixed number of threads).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pysam

from common.errors import InvalidInput
from ga4gh.refget.core.errors import SequenceUnavailable
from ga4gh.refget.core.model import SequenceRecord

# Bases per chunk when streaming: large enough for few syscalls, small enough to stay cheap.
CHUNK = 1 << 20
# htslib's faidx skips every byte that is not graphic (isgraph): line ends, blanks, controls.
_SKIP = bytes(range(33)) + b"\x7f"
_UPPER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class _FaiEntry:
    length: int
    offset: int
    line_bases: int
    line_width: int


class _PlainFasta:
    """An uncompressed indexed FASTA read with pread (thread-safe, no shared file position)."""

    def __init__(self, path: str) -> None:
        self.entries: dict[str, _FaiEntry] = {}
        with open(path + ".fai", encoding="utf-8") as fai:
            for line in fai:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 5:
                    self.entries[fields[0]] = _FaiEntry(*(int(f) for f in fields[1:5]))
        self.fd = os.open(path, os.O_RDONLY)

    def read(self, name: str, start: int, end: int) -> bytes:
        e = self.entries[name]
        first = e.offset + (start // e.line_bases) * e.line_width + start % e.line_bases
        last = e.offset + ((end - 1) // e.line_bases) * e.line_width + (end - 1) % e.line_bases
        raw = os.pread(self.fd, last + 1 - first, first)
        return raw.translate(_UPPER, _SKIP)

    def __del__(self) -> None:
        # Closed when the last reader lets go, never under a thread still reading it.
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


class FastaReader:
    """Reads upper-case bases of registered sequences from their indexed FASTA files."""

    def __init__(self, max_open_per_thread: int = 32) -> None:
        self._local = threading.local()
        self._max_open = max_open_per_thread
        # path -> _PlainFasta, or None for a compressed file (read through pysam).
        self._plain: dict[str, _PlainFasta | None] = {}
        self._plain_lock = threading.Lock()

    def _plain_for(self, path: str) -> _PlainFasta | None:
        try:
            return self._plain[path]
        except KeyError:
            pass
        with self._plain_lock:
            if path in self._plain:
                return self._plain[path]
            try:
                with open(path, "rb") as fh:
                    compressed = fh.read(2) == b"\x1f\x8b"
                plain = None if compressed else _PlainFasta(path)
            except (OSError, ValueError) as exc:
                raise SequenceUnavailable("the FASTA file of this sequence cannot be read") from exc
            if len(self._plain) >= 256:
                # Bound the cache; dropped files are simply reopened when asked for again.
                self._plain.clear()
            self._plain[path] = plain
            return plain

    def _handles(self) -> OrderedDict[str, pysam.FastaFile]:
        local = self._local
        # A forked worker must not share the parent's file descriptors' read positions.
        if getattr(local, "pid", None) != os.getpid():
            local.pid = os.getpid()
            local.handles = OrderedDict()
        handles: OrderedDict[str, pysam.FastaFile] = local.handles
        return handles

    def _open(self, path: str) -> pysam.FastaFile:
        handles = self._handles()
        fh = handles.get(path)
        if fh is not None:
            handles.move_to_end(path)
            return fh
        try:
            fh = pysam.FastaFile(path)
        except (OSError, ValueError) as exc:
            raise SequenceUnavailable("the FASTA file of this sequence cannot be read") from exc
        handles[path] = fh
        if len(handles) > self._max_open:
            _, oldest = handles.popitem(last=False)
            oldest.close()
        return fh

    def read(self, record: SequenceRecord, start: int, end: int) -> bytes:
        """Upper-case bases ``[start, end)`` of the record (0-based, half-open)."""
        if end <= start:
            return b""
        plain = self._plain_for(record.fasta_path)
        if plain is not None:
            try:
                data = plain.read(record.fasta_name, start, end)
            except (KeyError, OSError) as exc:
                with self._plain_lock:
                    self._plain.pop(record.fasta_path, None)
                raise SequenceUnavailable("the FASTA file of this sequence cannot be read") from exc
            if len(data) != end - start:
                raise SequenceUnavailable(
                    "the FASTA file of this sequence is shorter than registered"
                )
            return data
        fh = self._open(record.fasta_path)
        try:
            bases = fh.fetch(reference=record.fasta_name, start=start, end=end)
        except (KeyError, ValueError, OSError) as exc:
            # The file changed under us: drop the handle so the next request reopens it.
            self._handles().pop(record.fasta_path, None)
            raise SequenceUnavailable("the FASTA file of this sequence cannot be read") from exc
        data = bases.upper().encode("ascii")
        if len(data) != end - start:
            raise SequenceUnavailable("the FASTA file of this sequence is shorter than registered")
        return data

    def stream(
        self, record: SequenceRecord, start: int, end: int, chunk: int = CHUNK
    ) -> Iterator[bytes]:
        """The same bases in chunks of at most ``chunk`` bytes."""
        pos = start
        while pos < end:
            stop = min(end, pos + chunk)
            yield self.read(record, pos, stop)
            pos = stop

    def close(self) -> None:
        """Close this thread's handles."""
        handles = self._handles()
        while handles:
            handles.popitem()[1].close()


def ensure_index(path: Path) -> Path:
    """The ``.fai`` of a FASTA, built with pysam when missing or older than the FASTA."""
    fai = Path(str(path) + ".fai")
    if fai.exists() and fai.stat().st_mtime >= path.stat().st_mtime:
        return fai
    try:
        pysam.faidx(str(path))
    except pysam.SamtoolsError as exc:
        hint = ""
        if path.suffix == ".gz":
            hint = " (a compressed FASTA must be bgzip-compressed, not plain gzip)"
        raise InvalidInput(f"cannot index {path.name}{hint}: {str(exc).strip()}") from exc
    if not fai.exists():
        raise InvalidInput(f"cannot index {path.name}: no .fai was written")
    return fai


def read_index(path: Path) -> list[tuple[str, int]]:
    """(name, length) of every record of an indexed FASTA, in file order."""
    try:
        with pysam.FastaFile(str(path)) as fh:
            return list(zip(fh.references, (int(n) for n in fh.lengths), strict=True))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path.name} as indexed FASTA: {exc}") from exc
