"""Beacon v2 (framework v2.0.0, ``common/beaconCommonComponents.json``; default model
``genomicVariations/requestParameters.json``): the typed request a Beacon query becomes.

Coordinates follow the specification: ``start`` is 0-based inclusive, ``end`` 0-based exclusive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

API_VERSION = "v2.0.0"


class Granularity(enum.IntEnum):
    """``Granularity``: boolean < count < record (ordered so min/max compare detail)."""

    BOOLEAN = 0
    COUNT = 1
    RECORD = 2

    @property
    def label(self) -> str:
        """The spec's lower-case name."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Granularity:
        """From the spec's name; ValueError for anything else."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(value) from None


class SecurityLevel(enum.IntEnum):
    """``securityAttributes.securityLevels``: the access tier a dataset requires."""

    PUBLIC = 0
    REGISTERED = 1
    CONTROLLED = 2

    @property
    def label(self) -> str:
        return self.name


# An access tier of a caller for one dataset uses the same scale as SecurityLevel.
AccessTier = SecurityLevel


@dataclass(frozen=True)
class VariantQuery:
    """The genomic part of a query, already normalised.

    ``kind`` says which of the spec's query types it is: sequence (start + alternateBases),
    range (start + end), bracket (two starts + two ends) or gene (geneId, resolved to a range
    by the service before it reaches storage).
    """

    kind: Literal["sequence", "range", "bracket", "gene"]
    assembly: str
    chrom: str = ""
    start: tuple[int, ...] = ()
    end: tuple[int, ...] = ()
    reference_bases: str | None = None
    alternate_bases: str | None = None
    # Storage classes the requested variantType stands for (see variant_types.py).
    variant_classes: tuple[str, ...] | None = None
    variant_type: str | None = None
    gene_id: str | None = None
    min_length: int | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class OntologyFilter:
    """``OntologyFilter``: a CURIE; ``include_descendants`` widens ICD-10-GM codes to subcodes."""

    id: str
    include_descendants: bool = True
    scope: str | None = None


@dataclass(frozen=True)
class AlphanumericFilter:
    """``AlphanumericFilter``: field, operator (=, <, >, !, >=, <=) and value."""

    id: str
    operator: str
    value: str
    scope: str | None = None


Filter = OntologyFilter | AlphanumericFilter


@dataclass(frozen=True)
class Pagination:
    """``Pagination``: ``skip`` pages of ``limit`` records (spec: skip counts pages)."""

    skip: int = 0
    limit: int = 10

    @property
    def offset(self) -> int:
        return self.skip * self.limit


@dataclass(frozen=True)
class BeaconQuery:
    """Everything a request asks for, in the spec's terms, after validation."""

    entry_type: str
    requested_granularity: Granularity = Granularity.BOOLEAN
    variant: VariantQuery | None = None
    filters: tuple[Filter, ...] = ()
    pagination: Pagination = field(default_factory=Pagination)
    include_resultset_responses: str = "HIT"
    test_mode: bool = False
    # Echo of the received request parameters for receivedRequestSummary.
    request_parameters: dict[str, object] = field(default_factory=dict)
    requested_schemas: tuple[dict[str, str], ...] = ()
    api_version: str = API_VERSION
    # Constraints from the path: entry-by-id and cross-entry routes (entity -> id).
    scope_entity: str | None = None
    scope_id: str | None = None
    raw_filters: tuple[str, ...] = ()
    # requestParameters.datasets.datasetIds (framework request example): only these datasets.
    dataset_ids: tuple[str, ...] = ()
