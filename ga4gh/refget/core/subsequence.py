"""Refget 2.0.0 "Method: get sequence by ID": sub-sequences by ``start``/``end`` query parameters
or by a ``Range`` header (section "Range headers"), including circular sequences.

Where the specification text and the GA4GH compliance suite (refget-compliance 1.2.6, the
gate every public implementation is measured by) disagree, this module follows the suite and
RFC 7233: a start at or beyond the sequence end, an end beyond it, and a Range whose first
byte lies beyond the sequence or after its last byte are ``416 Range Not Satisfiable``;
a syntactically invalid Range header (other unit, several ranges, negative numbers) is
``400 Bad Request``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import InvalidInput
from ga4gh.refget.core.errors import NotImplementedByServer, RangeNotSatisfiable

UINT32_MAX = 2**32 - 1
_UINT = re.compile(r"[0-9]{1,10}")
_RANGE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{0,19})")
_SUFFIX = re.compile(r"bytes=-([0-9]{1,19})")


@dataclass(frozen=True)
class Slice:
    """What to send: 0-based half-open segments of the sequence, in order, and how."""

    segments: tuple[tuple[int, int], ...]
    status: int  # 200, or 206 for a satisfied Range header
    content_range: str | None = None  # for 206
    by_query: bool = False  # start/end given: "Accept-Ranges: none"

    @property
    def size(self) -> int:
        """Number of bases in the response."""
        return sum(end - start for start, end in self.segments)


def _uint32(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _UINT.fullmatch(raw) or int(raw) > UINT32_MAX:
        raise InvalidInput(f"{name} must be a 32-bit unsigned integer")
    return int(raw)


def plan_slice(
    length: int,
    *,
    circular: bool,
    circular_supported: bool = True,
    start: str | None = None,
    end: str | None = None,
    range_header: str | None = None,
    subsequence_limit: int = 0,
) -> Slice:
    """Validate a sub-sequence request against a sequence of ``length`` bases."""
    if range_header is not None and (start is not None or end is not None):
        raise InvalidInput("use either start/end query parameters or a Range header, not both")
    if range_header is not None:
        return _plan_range(length, range_header.strip(), subsequence_limit)
    first = _uint32("start", start)
    last = _uint32("end", end)
    if first is None and last is None:
        return Slice(((0, length),), 200)
    lo = 0 if first is None else first
    hi = length if last is None else last
    if first is not None and lo >= length:
        raise RangeNotSatisfiable("start lies at or beyond the end of the sequence", length=length)
    if hi > length:
        raise RangeNotSatisfiable("end lies beyond the end of the sequence", length=length)
    if lo > hi:
        if not circular_supported:
            raise NotImplementedByServer("circular sub-sequences (start > end) are not supported")
        if not circular:
            raise RangeNotSatisfiable(
                "start is greater than end and the sequence is not circular", length=length
            )
        segments: tuple[tuple[int, int], ...] = ((lo, length), (0, hi))
    else:
        segments = ((lo, hi),)
    result = Slice(segments, 200, by_query=True)
    _check_limit(result, subsequence_limit, length)
    return result


def _plan_range(length: int, header: str, subsequence_limit: int) -> Slice:
    match = _RANGE.fullmatch(header)
    if match:
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else length - 1
        if first > last:
            raise RangeNotSatisfiable(
                "the first byte of the range is after its last", length=length
            )
        if first >= length:
            raise RangeNotSatisfiable(
                "the range starts beyond the end of the sequence", length=length
            )
        last = min(last, length - 1)
    else:
        suffix = _SUFFIX.fullmatch(header)
        if not suffix:
            raise InvalidInput("Range must be a single byte range: bytes=<first>-[<last>]")
        count = int(suffix.group(1))
        if count == 0 or length == 0:
            raise RangeNotSatisfiable("an empty suffix range selects nothing", length=length)
        first, last = max(0, length - count), length - 1
    result = Slice(((first, last + 1),), 206, content_range=f"bytes {first}-{last}/{length}")
    _check_limit(result, subsequence_limit, length)
    return result


def _check_limit(result: Slice, limit: int, length: int) -> None:
    # service-info "subsequence_limit": values lower than 1 mean no limit.
    if limit > 0 and result.size > limit:
        raise RangeNotSatisfiable(
            f"sub-sequences are limited to {limit} bases on this server", length=length
        )
