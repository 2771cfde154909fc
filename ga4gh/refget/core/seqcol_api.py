"""Sequence Collections 1.0.0 API (section 3): collection levels, comparison, list and
attribute endpoints over the catalogue port."""

from __future__ import annotations

import json
from typing import Any

from common.errors import InvalidInput, NotFound
from ga4gh.refget.core.seqcol import (
    ATTRIBUTES,
    RETRIEVABLE,
    TRANSIENT,
    compare,
    digest_of_level2,
    level2_from_body,
)
from ga4gh.refget.ports import RefgetRepository

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


class CollectionService:
    """Reads and compares the stored sequence collections."""

    def __init__(self, repository: RefgetRepository) -> None:
        self.repository = repository

    def level1(self, digest: str) -> dict[str, str]:
        """Level 1: a digest per attribute, transient ones included (section 4.5)."""
        record = self.repository.collection(digest)
        if record is None:
            raise NotFound(f"no sequence collection {digest}")
        return dict(record.level1)

    def level2_json(self, digest: str) -> str:
        """Level 2 as JSON text, composed from the stored canonical attribute values."""
        level1 = self.level1(digest)
        values = self.repository.attribute_values((a, level1[a]) for a in RETRIEVABLE)
        missing = [a for a in RETRIEVABLE if a not in values]
        if missing:
            raise NotFound(f"attribute values of collection {digest} are missing: {missing}")
        return "{" + ",".join(f'"{a}":{values[a]}' for a in RETRIEVABLE) + "}"

    def level2(self, digest: str) -> dict[str, list[Any]]:
        """Level 2 as a dict."""
        return dict(json.loads(self.level2_json(digest)))

    def comparison(self, a: str, b: str) -> dict[str, Any]:
        """Compare two stored collections (section 3.3, endpoint 1)."""
        result = compare(self.level2(a), self.level2(b))
        return {"digests": {"a": a, "b": b}, **result}

    def comparison_with(self, a: str, body: Any) -> dict[str, Any]:
        """Compare a stored collection with a POSTed level 2 collection (endpoint 2)."""
        local = level2_from_body(body)
        stored = self.level2(a)
        try:
            b_digest: str | None = digest_of_level2(local)
        except (TypeError, ValueError):
            b_digest = None
        return {"digests": {"a": a, "b": b_digest}, **compare(stored, local)}

    def attribute_json(self, name: str, digest: str) -> str:
        """The level 2 value of an attribute (section 3.5) as JSON text."""
        if name not in RETRIEVABLE:
            if name in TRANSIENT:
                raise NotFound(f"{name} is transient: its value is not stored")
            raise NotFound(f"unknown attribute {name}")
        value = self.repository.attribute(name, digest)
        if value is None:
            raise NotFound(f"no {name} value with digest {digest}")
        return value

    def list_collections(
        self, filters: dict[str, str], page: int, page_size: int
    ) -> dict[str, Any]:
        """Section 3.4 paged list of collection digests, AND-filtered by level 1 digests."""
        unknown = sorted(set(filters) - set(ATTRIBUTES))
        if unknown:
            raise InvalidInput(f"cannot filter on unknown attribute(s): {', '.join(unknown)}")
        _check_paging(page, page_size)
        results, total = self.repository.list_collections(filters, page, page_size)
        return {
            "results": results,
            "pagination": {"page": page, "page_size": page_size, "total": total},
        }

    def list_attributes(self, name: str, page: int, page_size: int) -> dict[str, Any]:
        """Paged list of the level 1 digests stored for an attribute."""
        if name not in RETRIEVABLE:
            raise NotFound(f"attribute {name} cannot be listed")
        _check_paging(page, page_size)
        results, total = self.repository.list_attribute_digests(name, page, page_size)
        return {
            "results": results,
            "pagination": {"page": page, "page_size": page_size, "total": total},
        }


def _check_paging(page: int, page_size: int) -> None:
    if page < 0:
        raise InvalidInput("page must be 0 or greater (pages are numbered from 0)")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
