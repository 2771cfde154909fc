"""Ports the Beacon service uses (``typing.Protocol``s implemented in ``ga4gh/beacon/storage``
or by other components' adapters). Plain dataclasses only: no framework types."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ga4gh.beacon.core.assemblies import ResolvedName
from ga4gh.beacon.core.filters import IndividualCondition
from ga4gh.beacon.core.model import VariantQuery

Target = Literal["g_variants", "individuals", "biosamples", "analyses", "runs"]


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset of the index (the catalogue's dataset id)."""

    id: str
    name: str
    description: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class Selection:
    """What a query selects: variant, filters on individuals, and path constraints."""

    variant: VariantQuery | None = None
    conditions: tuple[IndividualCondition, ...] = ()
    individual_id: str | None = None
    biosample_id: str | None = None
    analysis_id: str | None = None
    run_id: str | None = None
    # Variants of one variantInternalId: (assembly, chrom, start0, ref, alt).
    variant_key: tuple[str, str, int, str, str] | None = None


@dataclass(frozen=True)
class Counts:
    """Matching entries and distinct consented individuals behind them, in one dataset."""

    entries: int
    individuals: int


@dataclass(frozen=True)
class Carrier:
    """One consented carrier of a variant (pseudonymous ids only)."""

    individual_id: str
    biosample_id: str
    analysis_id: str
    zygosity: str  # "0/1", "1/1", "1" (hemizygous) or "" (no genotype)


@dataclass(frozen=True)
class VariantRecord:
    assembly: str
    chrom: str
    start: int
    end: int
    ref: str
    alt: str
    storage_class: str
    sv: bool
    dataset_id: str
    carriers: tuple[Carrier, ...] = ()


@dataclass(frozen=True)
class IndividualRecord:
    id: str
    dataset_id: str
    sex: str | None
    age_years: int | None
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class BiosampleRecord:
    id: str
    individual_id: str
    dataset_id: str


@dataclass(frozen=True)
class AnalysisRecord:
    id: str
    dataset_id: str
    pipeline_name: str
    analysis_date: str
    biosample_ids: tuple[str, ...] = ()
    individual_id: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """A sequencing run: one catalogued read file (BAM/CRAM) of one biosample."""

    id: str
    dataset_id: str
    biosample_id: str
    individual_id: str
    run_date: str
    library_strategy: str | None = None
    library_layout: str | None = None
    platform: str | None = None


EntryRecord = VariantRecord | IndividualRecord | BiosampleRecord | AnalysisRecord | RunRecord


class BeaconIndex(Protocol):
    """The variant and individual index the queries run against."""

    def session(self) -> AbstractContextManager[None]:
        """Scope in which all calls share one connection and snapshot (one request)."""
        ...

    def datasets(self) -> list[DatasetRecord]:
        """Every indexed dataset."""
        ...

    def lookup_digest(self, key: str) -> ResolvedName | None:
        """The sequence an indexed refget digest (``SQ.…``) or MD5 names, if any."""
        ...

    def gene_span(self, symbol: str, assembly: str) -> tuple[str, int, int] | None:
        """(chrom, start0, end0) of a gene in the loaded gene table, or None."""
        ...

    def count(self, target: Target, datasets: Sequence[str], selection: Selection
              ) -> dict[str, Counts]:
        """Per dataset: matching entries of ``target`` and distinct consented individuals."""
        ...

    def records(self, target: Target, dataset: str, selection: Selection, offset: int,
                limit: int) -> list[EntryRecord]:
        """A page of matching entries of one dataset (consented individuals only)."""
        ...

    def filtering_terms(self, datasets: Sequence[str], min_individuals: int = 1
                        ) -> list[tuple[str, str]]:
        """(term, kind) of terms recorded for at least ``min_individuals`` consented
        individuals of the given datasets."""
        ...


class TermHierarchy(Protocol):
    """An ontology's is_a hierarchy (HPO): for includeDescendantTerms and labels."""

    def canonical(self, term: str) -> str | None:
        """The current id of a term (alternative ids map to it), or None if unknown."""
        ...

    def label(self, term: str) -> str | None:
        """The term's label, or None."""
        ...

    def ancestors(self, term: str) -> frozenset[str]:
        """Every is_a ancestor of the term (not the term itself)."""
        ...


class QueryBudget(Protocol):
    """Persistent per-caller query counter in fixed windows."""

    def spend(self, caller: str, window_start: int, limit: int) -> bool:
        """Count one query; False (nothing counted) if the window's budget is used up."""
        ...


@dataclass(frozen=True)
class ClinicalFact:
    """What the beacon may know about one pseudonymised individual."""

    sex: str | None = None  # NCIT term, see filters.SEX_TERMS
    birth_date: dt.date | None = None
    diagnoses: tuple[str, ...] = ()  # ICD10GM:<code>
    phenotypes: tuple[str, ...] = ()  # HP:nnnnnnn


class ClinicalFacts(Protocol):
    """Sex, diagnoses and phenotypes per donor pseudonym (from the FHIR clinical data)."""

    def facts(self, pseudonyms: Sequence[str]) -> dict[str, ClinicalFact]:
        """Facts of the pseudonyms the clinical data knows (unknown ones are absent)."""
        ...


class ResearchConsent(Protocol):
    """May a pseudonym's data be used for research on a date (the trust center decides)."""

    def permitted(self, pseudonyms: Sequence[str], on: dt.date) -> set[str]:
        """The subset of pseudonyms whose consent permits research use on that date."""
        ...


@dataclass(frozen=True)
class ConsentState:
    """A consent answer now, and the moment it may change by itself (a dated statement takes
    effect, a consent period ends); None: only a recorded change can change it."""

    allowed: bool
    until: dt.datetime | None = None


@dataclass(frozen=True)
class ConsentFeedPage:
    """Pseudonyms whose consent changed after a feed position, up to position ``seq``."""

    seq: int
    pseudonyms: frozenset[str]
    more: bool = False


class LiveConsent(Protocol):
    """Research consent asked at query time (the trust center's consent state and its
    change feed), so the index re-evaluates only what changed."""

    domain: str

    def status(self, pseudonyms: Sequence[str]) -> dict[str, ConsentState]:
        """Research consent of each pseudonym now and until when that answer holds."""
        ...

    def changes(self, since: int, limit: int = 1000) -> ConsentFeedPage:
        """Pseudonyms whose consent changed after feed position ``since``; ``limit=0`` only
        reports the newest position."""
        ...


@dataclass(frozen=True)
class VariantFile:
    """A catalogued VCF/BCF: its catalogue id, dataset, donor pseudonym and local path."""

    id: str
    dataset: str
    path: str
    donor_pseudonym: str | None = None
    format: str = "VCF"
    # Sequence collection digest (seqcol) of the file's reference, if the catalogue knows it.
    reference_digest: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadFile:
    """A catalogued BAM/CRAM: its catalogue id, dataset, donor pseudonym and local path."""

    id: str
    dataset: str
    path: str
    donor_pseudonym: str | None = None
    format: str = "BAM"
    # When the catalogue took it in (ISO date): the run date if the header names none.
    catalogued_on: str = ""


class VariantFileSource(Protocol):
    """Lists the catalogued variant files (adapter over the genomics catalogue)."""

    def variant_files(self) -> Iterable[VariantFile]:
        """Every catalogued VCF/BCF of kind variants."""
        ...

    def read_files(self) -> Iterable[ReadFile]:
        """Every catalogued BAM/CRAM of kind reads (the sequencing runs)."""
        ...
