"""GA4GH Passport 1.2: visa objects, visa types, conditions and the passport claim.

GA4GH Passport v1.2, sections "Passport Visa Object" (type, asserted, value, source, by,
conditions), "Passport Visa Types" (AffiliationAndRole, AcceptedTermsAndPolicies,
ResearcherStatus, ControlledAccessGrants) and "Conditions" (const:, pattern:, split_pattern:).
AAI OpenID Connect Profile 1.2: Visa Document Token and Passport formats, explicit ``typ``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import InvalidInput

VISA_TYP = "vnd.ga4gh.visa+jwt"
PASSPORT_TYP = "vnd.ga4gh.passport+jwt"
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 (RFC 9068 section 2.1)
PASSPORT_TOKEN_TYPE = "urn:ga4gh:params:oauth:token-type:passport"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
PASSPORT_SCOPE = "ga4gh_passport_v1"

CONTROLLED_ACCESS_GRANTS = "ControlledAccessGrants"
AFFILIATION_AND_ROLE = "AffiliationAndRole"
ACCEPTED_TERMS_AND_POLICIES = "AcceptedTermsAndPolicies"
RESEARCHER_STATUS = "ResearcherStatus"
LINKED_IDENTITIES = "LinkedIdentities"
VISA_TYPES = (
    AFFILIATION_AND_ROLE,
    ACCEPTED_TERMS_AND_POLICIES,
    RESEARCHER_STATUS,
    CONTROLLED_ACCESS_GRANTS,
    LINKED_IDENTITIES,
)
# Passport 1.2 "by" vocabulary.
BY_VALUES = ("self", "peer", "system", "so", "dac")
# Bona fide researcher status (Passport 1.2, ResearcherStatus: Registered Access policy).
BONA_FIDE_POLICY = "https://doi.org/10.1038/s41431-018-0219-y"


@dataclass(frozen=True)
class Visa:
    """A verified visa: who asserted what about whom, from which source, by whom, until when."""

    issuer: str
    subject: str
    type: str
    value: str
    source: str
    by: str
    asserted: int
    expires_at: int
    jti: str
    conditions: tuple[tuple[Mapping[str, str], ...], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def visa_object(
    visa_type: str,
    value: str,
    source: str,
    by: str,
    asserted: int,
    conditions: Sequence[Sequence[Mapping[str, str]]] = (),
    **extra: str,
) -> dict[str, Any]:
    """The ``ga4gh_visa_v1`` object (Passport 1.2 "Passport Visa Object")."""
    if visa_type not in VISA_TYPES:
        raise InvalidInput(f"unknown visa type {visa_type!r}")
    if by not in BY_VALUES:
        raise InvalidInput(f"unknown 'by' value {by!r}")
    obj: dict[str, Any] = {
        "type": visa_type,
        "asserted": asserted,
        "value": value,
        "source": source,
        "by": by,
    }
    if conditions:
        obj["conditions"] = [[dict(c) for c in clause] for clause in conditions]
    obj.update(extra)
    return obj


def dataset_value(platform_url: str, dataset_id: str) -> str:
    """The ControlledAccessGrants ``value`` naming a dataset of the platform provider."""
    return f"{platform_url.rstrip('/')}/datasets/{dataset_id}"


def dataset_of_value(platform_url: str, value: str) -> str | None:
    """Inverse of :func:`dataset_value` (None if the value names another registry)."""
    prefix = f"{platform_url.rstrip('/')}/datasets/"
    if value.startswith(prefix) and len(value) > len(prefix) and "/" not in value[len(prefix):]:
        return value[len(prefix):]
    return None


Conditions = tuple[tuple[Mapping[str, str], ...], ...]


def parse_visa_object(obj: Any) -> tuple[str, str, str, str, int, Conditions]:
    """Validate the shape of a ``ga4gh_visa_v1`` object; (type, value, source, by, asserted,
    conditions)."""
    if not isinstance(obj, Mapping):
        raise InvalidInput("ga4gh_visa_v1 is not an object")
    for name in ("type", "value", "source"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise InvalidInput(f"ga4gh_visa_v1.{name} is missing or not a string")
    by = obj.get("by", "")
    if not isinstance(by, str):
        raise InvalidInput("ga4gh_visa_v1.by is not a string")
    asserted = obj.get("asserted")
    if not isinstance(asserted, int) or isinstance(asserted, bool):
        raise InvalidInput("ga4gh_visa_v1.asserted is missing or not an integer")
    raw = obj.get("conditions", [])
    if not isinstance(raw, list) or not all(
        isinstance(clause, list)
        and clause
        and all(isinstance(c, Mapping) and isinstance(c.get("type"), str) for c in clause)
        for clause in raw
    ):
        raise InvalidInput("ga4gh_visa_v1.conditions is not a list of lists of conditions")
    conditions = tuple(tuple(dict(c) for c in clause) for clause in raw)
    return obj["type"], obj["value"], obj["source"], by, asserted, conditions


def _value_matches(expected: str, actual: str, *, split: bool = False) -> bool:
    # Passport 1.2 "Conditions": const: exact; pattern: '?' one char, '*' any run, anchored;
    # split_pattern: the value is ';'-separated and any part may match.
    kind, _, operand = expected.partition(":")
    if kind == "const":
        return actual == operand
    if kind == "pattern":
        return _pattern(operand).fullmatch(actual) is not None
    if kind == "split_pattern" and split:
        return any(_pattern(operand).fullmatch(part) for part in actual.split(";"))
    return False  # an unknown or missing prefix never matches (fail closed)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(operand: str) -> re.Pattern[str]:
    if operand not in _PATTERNS:
        # fnmatch would also expand [...] sets; the spec defines only '?' and '*'.
        escaped = operand.replace("[", "[[]")
        _PATTERNS[operand] = re.compile(fnmatch.translate(escaped))
    return _PATTERNS[operand]


def condition_met(condition: Mapping[str, str], visas: Iterable[Visa]) -> bool:
    """True if some visa satisfies every field of one condition."""
    for visa in visas:
        if visa.type != condition.get("type"):
            continue
        ok = True
        for name in ("value", "source", "by"):
            if name in condition:
                if not isinstance(condition[name], str):
                    return False
                actual = getattr(visa, name)
                if not _value_matches(condition[name], actual, split=name == "value"):
                    ok = False
                    break
        if ok:
            return True
    return False


def conditions_met(visa: Visa, others: Sequence[Visa]) -> bool:
    """Passport 1.2: outer list is OR, inner list is AND; no conditions means met."""
    if not visa.conditions:
        return True
    peers = [v for v in others if v is not visa]
    return any(all(condition_met(c, peers) for c in clause) for clause in visa.conditions)
