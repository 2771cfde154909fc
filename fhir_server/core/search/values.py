"""Search value primitives: stable hashes, string normalisation, FHIR date ranges.

FHIR R4 4.0.1 search.html sections 3.1.1.4.6 (date: implicit ranges by precision),
3.1.1.4.7 (string: case- and accent-insensitive prefix match) and datatypes.html
(date/dateTime/instant formats). Hashes follow the HAPI FHIR JPA idea: a 64-bit signed integer
of the identity (resource type, parameter) and the value, so every index look-up is one
integer comparison on one B-tree.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from common.errors import InvalidInput

MAX_STRING = 200
SEP = "\x1f"
MIN_TIME = -62135596800000000  # 0001-01-01T00:00:00Z in microseconds
MAX_TIME = 253402300799999999  # 9999-12-31T23:59:59.999999Z


@lru_cache(maxsize=1 << 16)
def h64(*parts: str | None) -> int:
    """Stable 64-bit signed hash of the parts (blake2b; the same on every platform).

    Cached: the same systems, codes and references recur across the resources of an ingest.
    """
    raw = SEP.join("" if p is None else p for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


def normalize(text: str) -> str:
    """Case- and accent-insensitive form of a string value (search.html#string)."""
    text = text[: MAX_STRING * 2]  # only the indexed prefix matters
    if text.isascii():
        return " ".join(text.lower().split())[:MAX_STRING]
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())[:MAX_STRING]


_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:T(?P<H>\d{2}):(?P<M>\d{2})"
    r"(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _epoch_us(dt: datetime) -> int:
    return calendar.timegm(dt.utctimetuple()) * 1_000_000 + dt.microsecond


def date_range(text: str) -> tuple[int, int]:
    """(low, high) in microseconds since the epoch, both inclusive, for a FHIR date value.

    The range covers the value's precision: ``2020`` is the whole year, ``2020-03-01T10:00``
    the whole minute. Times without a zone are taken as UTC (the server's zone).
    Raises InvalidInput for anything that is not a valid date, dateTime or instant.
    """
    m = _DATE_RE.match(text.strip())
    if not m:
        raise InvalidInput(f"Invalid date/dateTime value {text!r}")
    g = m.groupdict()
    try:
        year = int(g["y"])
        if g["m"] is None:
            low = datetime(year, 1, 1, tzinfo=UTC)
            high = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else None
        elif g["d"] is None:
            month = int(g["m"])
            low = datetime(year, month, 1, tzinfo=UTC)
            high = (datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
                    if (year, month) != (9999, 12) else None)
        elif g["H"] is None:
            low = datetime(year, int(g["m"]), int(g["d"]), tzinfo=UTC)
            high = low + timedelta(days=1)
        else:
            tz = UTC
            if g["tz"] and g["tz"] != "Z":
                sign = 1 if g["tz"][0] == "+" else -1
                hh, mm = int(g["tz"][1:3]), int(g["tz"][4:6])
                if hh > 14 or mm > 59:
                    raise ValueError("zone")
                tz = timezone(sign * timedelta(hours=hh, minutes=mm))
            if g["S"] is None:
                low = datetime(year, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), tzinfo=tz)
                high = low + timedelta(minutes=1)
            else:
                frac = g["f"] or ""
                micro = int((frac + "000000")[:6]) if frac else 0
                low = datetime(year, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]),
                               int(g["S"]), micro, tzinfo=tz)
                step = timedelta(microseconds=10 ** (6 - min(len(frac), 6))) if frac else \
                    timedelta(seconds=1)
                high = low + step
    except ValueError as exc:
        raise InvalidInput(f"Invalid date/dateTime value {text!r}") from exc
    lo = _epoch_us(low)
    hi = _epoch_us(high) - 1 if high is not None else MAX_TIME
    return lo, hi


def format_instant(us: int) -> str:
    """An instant (UTC, microseconds) as FHIR ``instant`` text."""
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
