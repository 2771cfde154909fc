"""htsget 1.3 requests: GET query parameters and POST bodies, validated into a Query.

hts-specs htsget.md v1.3.0, sections "GET request" (query parameters, field filtering) and
"POST request" (request body, region list). GET allows ``start == end`` (only ``start > end``
is an InvalidRange); POST regions require ``start < end``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ga4gh.htsget.core.errors import (
    InvalidInput,
    InvalidRange,
    NotFound,
    PayloadTooLarge,
    UnsupportedFormat,
)

READS, VARIANTS = "reads", "variants"
FORMATS = {READS: ("BAM", "CRAM"), VARIANTS: ("VCF", "BCF")}
FIELDS = frozenset(
    ("QNAME", "FLAG", "RNAME", "POS", "MAPQ", "CIGAR", "RNEXT", "PNEXT", "TLEN", "SEQ", "QUAL")
)
UINT32_MAX = (1 << 32) - 1
_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]$")
_GET_PARAMS = frozenset(
    ("format", "class", "referenceName", "start", "end", "fields", "tags", "notags")
)
_POST_KEYS = frozenset(("format", "class", "fields", "tags", "notags", "regions"))


@dataclass(frozen=True)
class Region:
    """A reference and an optional 0-based half-open interval; ``*``: unplaced unmapped reads."""

    reference_name: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Query:
    """A validated htsget request."""

    endpoint: str
    format: str
    header_only: bool = False
    # None: the whole file (no referenceName / no regions).
    regions: tuple[Region, ...] | None = None
    fields: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    notags: frozenset[str] = frozenset()


def _format(endpoint: str, value: Any) -> str:
    allowed = FORMATS[endpoint]
    if value is None:
        return allowed[0]
    if not isinstance(value, str):
        raise InvalidInput("format must be a string")
    fmt = value.upper()
    if fmt not in allowed:
        raise UnsupportedFormat(
            f"format {value!r} is not supported for {endpoint}; use {' or '.join(allowed)}"
        )
    return fmt


def _header_only(value: Any) -> bool:
    if value is None:
        return False
    if value != "header":
        raise InvalidInput("class must be 'header' when given")
    return True


def _uint32(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an unsigned 32-bit integer")
    if isinstance(value, str):
        if not value.isdigit():
            raise InvalidInput(f"{name} must be an unsigned 32-bit integer")
        value = int(value)
    if not isinstance(value, int) or value < 0 or value > UINT32_MAX:
        raise InvalidInput(f"{name} must be an unsigned 32-bit integer")
    return value


def _fields(value: list[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FIELDS))}"
        )
    return frozenset(value)


def _tags(name: str, value: list[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    bad = [t for t in value if not _TAG_RE.match(t)]
    if bad:
        raise InvalidInput(f"{name} holds invalid tag name(s): {', '.join(bad)}")
    return frozenset(value)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v for v in value.split(",") if v != ""]


def _string_list(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{name} must be an array of strings")
    return value


def _finish(
    endpoint: str,
    fmt: str,
    header_only: bool,
    regions: tuple[Region, ...] | None,
    fields: list[str] | None,
    tags: list[str] | None,
    notags: list[str] | None,
    others_given: bool,
) -> Query:
    if header_only and others_given:
        raise InvalidInput("class=header may only be combined with format")
    tag_set = _tags("tags", tags)
    notag_set = _tags("notags", notags) or frozenset()
    if tag_set is not None and tag_set & notag_set:
        raise InvalidInput(f"tags and notags intersect: {', '.join(sorted(tag_set & notag_set))}")
    return Query(endpoint, fmt, header_only, regions, _fields(fields), tag_set, notag_set)


def parse_get(endpoint: str, args: Mapping[str, str], repeated: set[str]) -> Query:
    """Validate GET query parameters (``repeated``: names given more than once)."""
    unknown = sorted(set(args) - _GET_PARAMS)
    if unknown:
        raise InvalidInput(f"unknown query parameter(s): {', '.join(unknown)}")
    if repeated:
        raise InvalidInput(
            f"query parameter(s) given more than once: {', '.join(sorted(repeated))}"
        )
    fmt = _format(endpoint, args.get("format"))
    header_only = _header_only(args.get("class"))
    name = args.get("referenceName")
    start = _uint32("start", args["start"]) if "start" in args else None
    end = _uint32("end", args["end"]) if "end" in args else None
    if (start is not None or end is not None) and (name is None or name == "*"):
        raise InvalidInput("start and end require a referenceName other than '*'")
    if name is not None and name == "":
        raise InvalidInput("referenceName must not be empty")
    if name == "*" and endpoint == VARIANTS:
        raise NotFound("referenceName '*' (unplaced unmapped reads) exists for reads only")
    if start is not None and end is not None and start > end:
        raise InvalidRange(f"start ({start}) is greater than end ({end})")
    regions = (Region(name, start, end),) if name is not None else None
    others = any(k in args for k in _GET_PARAMS - {"format", "class"})
    return _finish(
        endpoint, fmt, header_only, regions, _split(args.get("fields")),
        _split(args.get("tags")), _split(args.get("notags")), others,
    )


def parse_post(endpoint: str, body: Any, max_regions: int) -> Query:
    """Validate a POST body (already decoded from JSON)."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    unknown = sorted(set(body) - _POST_KEYS)
    if unknown:
        raise InvalidInput(f"unknown request field(s): {', '.join(unknown)}")
    fmt = _format(endpoint, body.get("format"))
    header_only = _header_only(body.get("class"))
    regions: tuple[Region, ...] | None = None
    if "regions" in body:
        raw = body["regions"]
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("regions must be a non-empty array")
        if len(raw) > max_regions:
            raise PayloadTooLarge(f"at most {max_regions} regions per request")
        regions = tuple(_region(endpoint, r, i) for i, r in enumerate(raw))
    others = any(k in body for k in _POST_KEYS - {"format", "class"})
    return _finish(
        endpoint, fmt, header_only, regions, _string_list("fields", body.get("fields")),
        _string_list("tags", body.get("tags")), _string_list("notags", body.get("notags")),
        others,
    )


def _region(endpoint: str, raw: Any, i: int) -> Region:
    if not isinstance(raw, dict):
        raise InvalidInput(f"regions[{i}] must be an object")
    unknown = sorted(set(raw) - {"referenceName", "start", "end"})
    if unknown:
        raise InvalidInput(f"regions[{i}] has unknown field(s): {', '.join(unknown)}")
    name = raw.get("referenceName")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"regions[{i}].referenceName is required and must be a string")
    start = _uint32(f"regions[{i}].start", raw["start"]) if "start" in raw else None
    end = _uint32(f"regions[{i}].end", raw["end"]) if "end" in raw else None
    if isinstance(raw.get("start"), str) or isinstance(raw.get("end"), str):
        raise InvalidInput(f"regions[{i}].start and end must be JSON integers")
    if name == "*" and (start is not None or end is not None):
        raise InvalidInput(f"regions[{i}]: start and end do not apply to referenceName '*'")
    if name == "*" and endpoint == VARIANTS:
        raise NotFound("referenceName '*' (unplaced unmapped reads) exists for reads only")
    if start is not None and end is not None and start >= end:
        raise InvalidRange(f"regions[{i}]: start ({start}) must be less than end ({end})")
    return Region(name, start, end)


def filters_requested(query: Query) -> bool:
    """True if ``fields``, ``tags`` or ``notags`` would remove anything from the records."""
    return (
        (query.fields is not None and query.fields != FIELDS)
        or query.tags is not None
        or bool(query.notags)
    )
