"""Object store on an S3-compatible bucket (AWS S3, MinIO, Ceph RGW) through boto3.

Keys are ``<prefix><id>/<file>``. Reads use ranged GETs, so htsget tickets and the data
endpoint work without local copies; the data endpoint streams the bytes through.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from common.errors import InvalidInput


class S3ObjectStore:
    """ObjectStore on one bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise InvalidInput("GENOMSEQ_GENOMICS_S3_BUCKET must be set for the s3 backend")
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self._s3 = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"invalid object key {key!r}")
        return self.prefix + key

    def _head(self, key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return self._s3.head_object(Bucket=self.bucket, Key=self._key(key))  # type: ignore[no-any-return]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from exc
            raise

    def put_file(self, key: str, source: Path) -> None:
        self._s3.upload_file(str(source), self.bucket, self._key(key))
        source.unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.read_range(key, 0, self.size(key)))

    def read_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        resp = self._s3.get_object(
            Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
        )
        return resp["Body"].read()  # type: ignore[no-any-return]

    def iter_range(self, key: str, start: int, end: int, chunk: int = 1 << 20) -> Iterator[bytes]:
        if end <= start:
            return
        resp = self._s3.get_object(
            Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
        )
        yield from resp["Body"].iter_chunks(chunk)

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def mtime_ns(self, key: str) -> int:
        return int(self._head(key)["LastModified"].timestamp() * 1_000_000_000)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def local_path(self, key: str) -> Path | None:
        return None
