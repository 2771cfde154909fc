"""Indexed FASTA on disk: the bases behind every registered sequence.

Reads go through ``pysam.FastaFile`` (htslib faidx): only the requested bases are read, so a
whole chromosome is streamed in chunks and never held in memory. ``FastaFile`` handles are not
thread-safe, so each thread keeps its own small LRU of open handles (gunicorn gthread workers
have a fixed number of threads, so the number of open files stays bounded).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import pysam

from common.errors import InvalidInput
from ga4gh.refget.core.errors import SequenceUnavailable
from ga4gh.refget.core.model import SequenceRecord

# Bases per chunk when streaming: large enough for few syscalls, small enough to stay cheap.
CHUNK = 1 << 20


class FastaReader:
    """Reads upper-case bases of registered sequences from their indexed FASTA files."""

    def __init__(self, max_open_per_thread: int = 32) -> None:
        self._local = threading.local()
        self._max_open = max_open_per_thread

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
