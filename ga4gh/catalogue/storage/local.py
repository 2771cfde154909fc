"""Object store on the local file system (the embedded default, under GENOMSEQ_DATA_DIR)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from common.errors import InvalidInput


class LocalObjectStore:
    """Objects as files below one root directory; a key is a relative POSIX path."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """The file of a key; refuses keys that would leave the root."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def put_file(self, key: str, source: Path) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same file system (staging lives under the root): an atomic rename, no copy.
        if _same_device(source, target.parent):
            os.replace(source, target)
        else:
            shutil.move(source, target)

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def read_range(self, key: str, start: int, end: int) -> bytes:
        with self.path(key).open("rb") as fh:
            fh.seek(start)
            return fh.read(max(0, end - start))

    def iter_range(self, key: str, start: int, end: int, chunk: int = 1 << 20) -> Iterator[bytes]:
        with self.path(key).open("rb") as fh:
            fh.seek(start)
            remaining = end - start
            while remaining > 0:
                data = fh.read(min(chunk, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def mtime_ns(self, key: str) -> int:
        return self.path(key).stat().st_mtime_ns

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        # Remove the directories of the key once empty (keys are <id>/<ingest>/<file>).
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def local_path(self, key: str) -> Path | None:
        return self.path(key)


def _same_device(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False
