"""Helpers of the htsget tests: resolve a ticket into bytes and decode records with pysam."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pysam
from flask.testing import FlaskClient

BASE = "/ga4gh/htsget/v1"
TICKET_TYPE = "application/vnd.ga4gh.htsget.v1.3.0+json"


def resolve(client: FlaskClient, ticket: dict[str, Any]) -> bytes:
    """Fetch every URL of a ticket (through the test client) and concatenate the blocks."""
    out = bytearray()
    for entry in ticket["htsget"]["urls"]:
        url = entry["url"]
        if url.startswith("data:"):
            assert url.startswith("data:;base64,")
            out += base64.b64decode(url[len("data:;base64,"):])
            continue
        parts = urlsplit(url)
        resp = client.get(parts.path + "?" + parts.query, headers=entry.get("headers", {}))
        assert resp.status_code == (206 if "headers" in entry else 200), resp.data
        assert int(resp.headers["Content-Length"]) == len(resp.data)
        out += resp.data
    return bytes(out)


def reads_of(path: Path, reference: Path | None = None) -> list[str]:
    """SAM lines of every record of a BAM/CRAM file (no index needed)."""
    kwargs: dict[str, Any] = {"check_sq": False}
    if reference is not None:
        kwargs["reference_filename"] = str(reference)
    with pysam.AlignmentFile(str(path), **kwargs) as f:
        return [r.to_string() for r in f.fetch(until_eof=True)]


def region_reads(
    path: Path, contig: str | None, start: int | None = None, end: int | None = None,
    reference: Path | None = None,
) -> list[str]:
    """SAM lines pysam gives for a region of the original (indexed) file."""
    kwargs: dict[str, Any] = {}
    if reference is not None:
        kwargs["reference_filename"] = str(reference)
    with pysam.AlignmentFile(str(path), **kwargs) as f:
        if contig == "*":
            return [r.to_string() for r in f.fetch(until_eof=True) if r.reference_id == -1]
        if contig is None:
            return [r.to_string() for r in f.fetch(until_eof=True)]
        return [r.to_string() for r in f.fetch(contig, start, end)]


def variants_of(path: Path) -> list[str]:
    """VCF lines of every record of a VCF/BCF file."""
    with pysam.VariantFile(str(path)) as f:
        return [str(r) for r in f]


def region_variants(
    path: Path, contig: str | None, start: int | None = None, end: int | None = None
) -> list[str]:
    """VCF lines pysam gives for a region of the original (indexed) file."""
    with pysam.VariantFile(str(path)) as f:
        if contig is None:
            return [str(r) for r in f]
        return [str(r) for r in f.fetch(contig, start, end)]
