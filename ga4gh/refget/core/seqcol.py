"""GA4GH Refget Sequence Collections 1.0.0: schema (section 1), encoding (section 2),
comparison (section 3.3) and the recommended ancillary attributes (section 5).

Digests come from the ``refget`` package (the GA4GH reference implementation): RFC 8785
canonical JSON and the ``sha512t24u`` GA4GH digest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from refget.digests import sha512t24u_digest
from refget.utils import (
    build_name_length_pairs,
    build_sorted_name_length_pairs,
    canonical_str,
    level1_dict_to_seqcol_digest,
    seqcol_dict_to_level1_dict,
)

from common.errors import InvalidInput

INHERENT = ("names", "sequences")
# sorted_name_length_pairs: transient (section 5.2): only its level 1 digest is kept.
TRANSIENT = ("sorted_name_length_pairs",)
# Every attribute this server stores, in the order collections are shown.
ATTRIBUTES = (
    "lengths",
    "names",
    "sequences",
    "sorted_sequences",
    "name_length_pairs",
    "sorted_name_length_pairs",
)
# Attributes served by /attribute and shown at level 2.
RETRIEVABLE = tuple(a for a in ATTRIBUTES if a not in TRANSIENT)

# The JSON Schema published in service-info (section 3.1): the base schema of section 1
# extended with the recommended non-inherent attributes of section 5.
SCHEMA: dict[str, Any] = {
    "$id": "https://ga4gh.github.io/refget/schemas/seqcol_genomseq.json",
    "description": "A collection of biological sequences.",
    "type": "object",
    "properties": {
        "lengths": {
            "type": "array",
            "collated": True,
            "description": "Number of elements, such as nucleotides or amino acids, in each "
            "sequence.",
            "items": {"type": "integer"},
        },
        "names": {
            "type": "array",
            "collated": True,
            "description": "Human-readable labels of each sequence (chromosome names).",
            "items": {"type": "string"},
        },
        "sequences": {
            "type": "array",
            "collated": True,
            "items": {
                "type": "string",
                "description": "Refget sequences v2 identifiers for sequences.",
            },
        },
        "sorted_sequences": {
            "type": "array",
            "collated": False,
            "items": {
                "type": "string",
                "description": "Refget sequences v2 identifiers for sequences, sorted.",
            },
        },
        "name_length_pairs": {
            "type": "array",
            "collated": True,
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "length": {"type": "integer"}},
            },
        },
        "sorted_name_length_pairs": {
            "type": "array",
            "collated": False,
            "items": {"type": "string"},
        },
    },
    "required": ["names", "lengths", "sequences"],
    "ga4gh": {"inherent": list(INHERENT), "transient": list(TRANSIENT), "passthru": []},
}


@dataclass(frozen=True)
class SequenceCollection:
    """A sequence collection with every stored attribute at level 2 and level 1."""

    digest: str
    level1: dict[str, str]
    level2: dict[str, list[Any]]  # includes the transient attribute's array

    @property
    def n_sequences(self) -> int:
        """Number of sequences."""
        return len(self.level2["names"])


def build_collection(
    names: Sequence[str], lengths: Sequence[int], sequences: Sequence[str]
) -> SequenceCollection:
    """The collection of the given collated arrays (``sequences`` are ``SQ.`` digests)."""
    if not (len(names) == len(lengths) == len(sequences)):
        raise InvalidInput("names, lengths and sequences must have the same number of elements")
    if len(set(names)) != len(names):
        raise InvalidInput("sequence names must be unique within a collection")
    base: dict[str, Any] = {
        "names": list(names),
        "lengths": [int(x) for x in lengths],
        "sequences": list(sequences),
    }
    level2: dict[str, list[Any]] = {
        "lengths": base["lengths"],
        "names": base["names"],
        "sequences": base["sequences"],
        "sorted_sequences": sorted(base["sequences"]),
        "name_length_pairs": build_name_length_pairs(base),
        "sorted_name_length_pairs": build_sorted_name_length_pairs(base),
    }
    level1 = seqcol_dict_to_level1_dict(level2, passthru_attrs=[])
    digest = level1_dict_to_seqcol_digest(level1, inherent_attrs=list(INHERENT))
    return SequenceCollection(digest=digest, level1=level1, level2=level2)


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON text of an attribute value (what its digest is taken over)."""
    return canonical_str(value).decode("utf-8")


def attribute_digest(value: Any) -> str:
    """Level 1 digest of an attribute value."""
    return str(sha512t24u_digest(canonical_str(value)))


def level2_from_body(body: Any) -> dict[str, list[Any]]:
    """Validate a POSTed level 2 collection (section 3.3 endpoint 2); returns its arrays."""
    if not isinstance(body, dict) or not body:
        raise InvalidInput("the request body must be a level 2 sequence collection object")
    result: dict[str, list[Any]] = {}
    for key, value in body.items():
        if not isinstance(key, str) or not isinstance(value, list):
            raise InvalidInput(f"attribute {key!r} must be an array (level 2 representation)")
        result[key] = value
    for key in ("names", "lengths", "sequences"):
        if key not in result:
            raise InvalidInput(f"the collection lacks the required attribute {key!r}")
    if not all(isinstance(n, str) for n in result["names"]):
        raise InvalidInput("names must be strings")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in result["lengths"]):
        raise InvalidInput("lengths must be integers")
    if not all(isinstance(n, str) for n in result["sequences"]):
        raise InvalidInput("sequences must be strings")
    return result


def digest_of_level2(level2: dict[str, list[Any]]) -> str:
    """Top-level digest of a level 2 collection (inherent attributes only)."""
    inherent = {k: level2[k] for k in INHERENT}
    return str(level1_dict_to_seqcol_digest(seqcol_dict_to_level1_dict(inherent, [])))


def compare(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> dict[str, Any]:
    """Section 3.3 comparison of two level 2 collections (``digests`` added by the caller).

    Same results as ``refget.utils.compare_seqcols`` (what the compliance fixtures were made
    with), in linear time: elements are matched through hashable canonical keys.
    """
    a_keys, b_keys = sorted(a), sorted(b)
    both = [k for k in a_keys if k in b]
    result: dict[str, Any] = {
        "attributes": {
            "a_only": [k for k in a_keys if k not in b],
            "b_only": [k for k in b_keys if k not in a],
            "a_and_b": both,
        },
        "array_elements": {
            "a_count": {k: len(a[k]) for k in a_keys},
            "b_count": {k: len(b[k]) for k in b_keys},
            "a_and_b_count": {},
            "a_and_b_same_order": {},
        },
    }
    for key in both:
        overlap, same_order = _compare_arrays(a[key], b[key])
        result["array_elements"]["a_and_b_count"][key] = overlap
        result["array_elements"]["a_and_b_same_order"][key] = same_order
    return result


def _key(element: Any) -> Any:
    if isinstance(element, (dict, list)):
        return json.dumps(element, sort_keys=True, separators=(",", ":"))
    # bool is an int in Python; keep True and 1 apart as JSON does.
    return (type(element).__name__, element)


def _compare_arrays(a: list[Any], b: list[Any]) -> tuple[int, bool | None]:
    a_keys = [_key(x) for x in a]
    b_keys = [_key(x) for x in b]
    a_set, b_set = set(a_keys), set(b_keys)
    a_common = [k for k in a_keys if k in b_set]
    b_common = [k for k in b_keys if k in a_set]
    overlap = min(len(a_common), len(b_common))
    if not a_common and not b_common:
        return overlap, None
    if not (len(a_common) == len(b_common) == overlap):
        # Unbalanced duplicates: order is undefined.
        return overlap, None
    return overlap, a_common == b_common
