"""Accept header negotiation (RFC 9110 section 12.5.1) with refget 2.0.0 "Internet Media Types
Handling": a request for ``text/plain`` degrades to the refget plain type, ``application/json``
to the refget JSON type; wildcards select the default offer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Offer:
    """A representation the server can send: its Content-Type and the types that select it."""

    content_type: str
    accepts: frozenset[str]

    @property
    def media_type(self) -> str:
        """Content-Type without parameters."""
        return self.content_type.split(";", 1)[0].strip()


def _parse(header: str) -> list[tuple[str, float, int]]:
    ranges = []
    for index, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((media, max(0.0, min(q, 1.0)), index))
    return ranges


def negotiate(header: str | None, offers: list[Offer]) -> Offer | None:
    """The best offer for an Accept header (first offer when absent); None means 406."""
    if header is None or not header.strip():
        return offers[0]
    ranges = _parse(header)
    best: tuple[float, int, int] | None = None
    chosen: Offer | None = None
    for position, offer in enumerate(offers):
        score: tuple[float, int] | None = None  # (q, specificity) of the most specific match
        for media, q, _ in ranges:
            if media == "*/*":
                spec = 0
            elif media.endswith("/*"):
                if media[:-1] != offer.media_type.split("/", 1)[0] + "/":
                    continue
                spec = 1
            elif media in offer.accepts or media == offer.media_type:
                spec = 2
            else:
                continue
            if score is None or spec > score[1]:
                score = (q, spec)
        if score is None or score[0] <= 0:
            continue
        key = (score[0], score[1], -position)
        if best is None or key > best:
            best, chosen = key, offer
    return chosen
