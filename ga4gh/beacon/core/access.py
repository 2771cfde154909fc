"""Beacon v2 security levels and granularity (framework ``beaconConfigurationSchema.json``
``securityAttributes``; Beacon v2 docs "Security / Access levels"): which datasets a caller
may query and at which granularity, and how small counts are disclosed.

Policy: each dataset has a security level (PUBLIC, REGISTERED, CONTROLLED). A caller's tier
for a dataset is CONTROLLED with a grant for it (a ``beacon:controlled:<dataset>`` scope or a
GA4GH ``ControlledAccessGrants`` visa naming it), REGISTERED when the caller is a registered
researcher (``beacon:registered`` scope or ``ResearcherStatus`` plus
``AcceptedTermsAndPolicies`` visas, GA4GH Passport v1.2 "Registered access") and PUBLIC
otherwise. Visas come from the verified ``visas`` of a passport clearinghouse principal.
A dataset is visible when the tier reaches its level; the tier's configured
ceiling (default public -> boolean, registered -> count, controlled -> record) bounds the
granularity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from common.errors import GenomseqError
from ga4gh.beacon.core.model import AccessTier, Granularity, SecurityLevel

REGISTERED_SCOPE = "beacon:registered"
CONTROLLED_SCOPE_PREFIX = "beacon:controlled:"


class TooManyQueries(GenomseqError):
    """The caller's query budget for the current window is used up."""

    status = 429
    code = "too-many-requests"


@dataclass(frozen=True)
class Caller:
    """Who asks, reduced to what the access policy needs."""

    # Stable key for the query budget (None: anonymous, not budgeted).
    key: str | None = None
    registered: bool = False
    controlled_datasets: frozenset[str] = frozenset()
    # Authorization off (development): every dataset at record level, no budget.
    unrestricted: bool = False


ANONYMOUS = Caller()


def caller_from(subject: str | None, scopes: Iterable[str],
                visas: Iterable[tuple[str, str]] = (), unrestricted: bool = False) -> Caller:
    """Derive the Caller from a principal's subject, scopes and verified visas given as
    (type, value) pairs (the passport clearinghouse verifies them; never raw claims)."""
    scopes = set(scopes)
    registered = REGISTERED_SCOPE in scopes
    grants = {s[len(CONTROLLED_SCOPE_PREFIX):] for s in scopes
              if s.startswith(CONTROLLED_SCOPE_PREFIX)}
    types: set[str] = set()
    for vtype, value in visas:
        types.add(vtype)
        if vtype == "ControlledAccessGrants":
            # The value is the dataset's URL or id; the last path segment names it.
            grants.add(value.rstrip("/").rsplit("/", 1)[-1])
    if {"ResearcherStatus", "AcceptedTermsAndPolicies"} <= types:
        registered = True
    return Caller(key=subject, registered=registered or bool(grants),
                  controlled_datasets=frozenset(grants), unrestricted=unrestricted)


@dataclass(frozen=True)
class AccessPolicy:
    """Dataset security levels and per-tier granularity ceilings (from BeaconSettings)."""

    default_level: SecurityLevel = SecurityLevel.CONTROLLED
    levels: Mapping[str, SecurityLevel] = field(default_factory=dict)
    ceilings: Mapping[AccessTier, Granularity] = field(default_factory=lambda: {
        AccessTier.PUBLIC: Granularity.BOOLEAN,
        AccessTier.REGISTERED: Granularity.COUNT,
        AccessTier.CONTROLLED: Granularity.RECORD,
    })

    @classmethod
    def from_entries(cls, default: str, entries: Iterable[str],
                     ceilings: Mapping[str, str]) -> AccessPolicy:
        """From settings: ``dataset=level`` entries and tier -> granularity names."""
        levels: dict[str, SecurityLevel] = {}
        for entry in entries:
            dataset, sep, level = entry.partition("=")
            if not sep or not dataset.strip():
                raise ValueError(f"dataset security level {entry!r}: use dataset=level")
            levels[dataset.strip()] = SecurityLevel[level.strip().upper()]
        return cls(
            default_level=SecurityLevel[default.upper()],
            levels=levels,
            ceilings={SecurityLevel[t.upper()]: Granularity.parse(g)
                      for t, g in ceilings.items()},
        )

    def level(self, dataset: str) -> SecurityLevel:
        """The security level of a dataset."""
        return self.levels.get(dataset, self.default_level)

    def tier(self, caller: Caller, dataset: str) -> AccessTier:
        """The caller's access tier for one dataset."""
        if caller.unrestricted or dataset in caller.controlled_datasets:
            return AccessTier.CONTROLLED
        return AccessTier.REGISTERED if caller.registered else AccessTier.PUBLIC

    def granularity(self, caller: Caller, dataset: str) -> Granularity | None:
        """Highest granularity for this caller and dataset, or None if it may not see it."""
        tier = self.tier(caller, dataset)
        if tier < self.level(dataset):
            return None
        return self.ceilings[tier]


@dataclass(frozen=True)
class Disclosure:
    """How counts below the threshold are shown, and optional rounding."""

    threshold: int = 5
    policy: str = "less-than"  # or "suppress"
    rounding: int = 0

    def count(self, entries: int, individuals: int) -> tuple[bool, int | None, str | None]:
        """(exists, count or None when withheld, note) for counts shown to a non-controlled
        caller; the threshold applies to the individuals behind the entries."""
        if individuals <= 0:
            return False, 0, None
        if individuals < self.threshold:
            if self.policy == "suppress":
                return False, 0, None
            return True, None, f"fewer than {self.threshold} individuals"
        shown = entries
        if self.rounding > 1:
            shown = max(self.rounding, int(round(entries / self.rounding)) * self.rounding)
        return True, shown, None

    def exists(self, individuals: int) -> bool:
        """Boolean answer: with policy "suppress" small cells read as no match."""
        if individuals <= 0:
            return False
        return not (self.policy == "suppress" and individuals < self.threshold)
