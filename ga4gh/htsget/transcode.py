"""``fields``/``tags``/``notags`` (htsget 1.3 "Field filtering") served by transcoding with
pysam, only when a request asks for them and only for BAM.

The exact records of the request are assembled from the normal ticket, read with pysam,
filtered and written as a new BAM that the transcode endpoint streams. Removed fields get
SAM's "unavailable" values (QNAME ``*``, MAPQ 255, RNEXT ``*``, PNEXT 0, TLEN 0, SEQ ``*``,
QUAL ``*``); FLAG, RNAME, POS and CIGAR are always kept (the spec lets a server return more
than asked) so the output stays a valid, sorted, indexable BAM.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ga4gh.catalogue.core.model import FileFormat, GenomicObject, IndexFormat, Kind
from ga4gh.catalogue.ports import ObjectStore
from ga4gh.htsget.core.errors import InvalidInput
from ga4gh.htsget.core.request import FIELDS, Query, Region
from ga4gh.htsget.core.tickets import Inline
from ga4gh.htsget.service import HtsgetService


@dataclass(frozen=True)
class TranscodeSpec:
    """What the transcode endpoint needs, carried (signed) in its URL: no database lookup."""

    object_id: str
    storage_key: str
    index_key: str
    index_format: str
    regions: tuple[Region, ...] | None
    fields: frozenset[str] | None
    tags: frozenset[str] | None
    notags: frozenset[str]

    def encode(self) -> str:
        """URL-safe text form."""
        doc = {
            "id": self.object_id, "k": self.storage_key, "i": self.index_key,
            "x": self.index_format,
            "r": None if self.regions is None else [
                [r.reference_name, r.start, r.end] for r in self.regions],
            "f": None if self.fields is None else sorted(self.fields),
            "t": None if self.tags is None else sorted(self.tags),
            "n": sorted(self.notags),
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> TranscodeSpec:
        """Inverse of encode (the signature was checked before)."""
        try:
            doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            return cls(
                doc["id"], doc["k"], doc["i"], doc["x"],
                None if doc["r"] is None else tuple(Region(*r) for r in doc["r"]),
                None if doc["f"] is None else frozenset(doc["f"]),
                None if doc["t"] is None else frozenset(doc["t"]),
                frozenset(doc["n"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("malformed transcode specification") from exc

    @classmethod
    def of(cls, obj: GenomicObject, query: Query) -> TranscodeSpec:
        """The spec of a query on an object."""
        assert obj.index_key is not None and obj.index_format is not None
        return cls(obj.id, obj.storage_key, obj.index_key, obj.index_format.value,
                   query.regions, query.fields, query.tags, query.notags)


def transcoded_bam(service: HtsgetService, store: ObjectStore, spec: TranscodeSpec
                   ) -> tuple[int, Iterator[bytes]]:
    """(size, chunks) of the filtered BAM for a spec; temporary files are removed."""
    import pysam

    obj = GenomicObject(
        id=spec.object_id, kind=Kind.READS, format=FileFormat.BAM, name="", size=0, md5="",
        sha256="", storage_key=spec.storage_key, index_key=spec.index_key,
        index_format=IndexFormat(spec.index_format),
    )
    ticket = service.ticket(obj, Query("reads", "BAM", False, spec.regions))
    with tempfile.TemporaryDirectory(prefix="htsget-transcode-") as tmp:
        blob = os.path.join(tmp, "in.bam")
        with open(blob, "wb") as out:
            for part in ticket.parts:
                if isinstance(part, Inline):
                    out.write(part.data)
                else:
                    for chunk in store.iter_range(spec.storage_key, part.start, part.end):
                        out.write(chunk)
        result = os.path.join(tmp, "out.bam")
        with pysam.AlignmentFile(blob, "rb", check_sq=False) as src, pysam.AlignmentFile(
            result, "wb", template=src
        ) as dst:
            for seg in src.fetch(until_eof=True):
                _filter(seg, spec)
                dst.write(seg)
        fh = open(result, "rb")  # noqa: SIM115 - handed to the generator below
    # The directory is gone; the open handle keeps the data readable until closed.
    size = os.fstat(fh.fileno()).st_size
    return size, _read_all(fh)


def _read_all(fh: Any) -> Iterator[bytes]:
    try:
        while chunk := fh.read(1 << 20):
            yield chunk
    finally:
        fh.close()


def _filter(seg: Any, spec: TranscodeSpec) -> None:
    if spec.tags is not None or spec.notags:
        kept = [
            t for t in seg.get_tags(with_value_type=True)
            if (spec.tags is None or t[0] in spec.tags) and t[0] not in spec.notags
        ]
        seg.set_tags(kept)
    if spec.fields is None or spec.fields == FIELDS:
        return
    f = spec.fields
    if "QNAME" not in f:
        seg.query_name = "*"
    if "MAPQ" not in f:
        seg.mapping_quality = 255
    if "RNEXT" not in f:
        seg.next_reference_id = -1
    if "PNEXT" not in f:
        seg.next_reference_start = -1
    if "TLEN" not in f:
        seg.template_length = 0
    if "SEQ" not in f:
        seg.query_sequence = None  # also drops QUAL (SAMv1: QUAL requires SEQ)
    elif "QUAL" not in f:
        seg.query_qualities = None
