"""Beacon v2 entry types of the default model (``beacon-v2-default-model/beaconConfiguration.json``
and ``beaconMap.json``): ids, names, ontology terms, default schemas, endpoints."""

from __future__ import annotations

from dataclasses import dataclass

MODEL_VERSION = "v2.0.0"


@dataclass(frozen=True)
class EntryType:
    """One entry type: its Beacon id, URL path segment and default-model schema id."""

    id: str
    path: str
    name: str
    description: str
    term: tuple[str, str]
    schema_id: str
    # Returned entry types reachable from /<path>/{id}/<other path>.
    related: tuple[str, ...] = ()
    collection_of: tuple[tuple[str, str], ...] = ()
    is_collection: bool = False


ENTRY_TYPES: tuple[EntryType, ...] = (
    EntryType("genomicVariant", "g_variants", "Genomic Variants",
              "The location of a sequence.", ("ENSGLOSSARY:0000092", "Variant"),
              "ga4gh-beacon-variant-v2.0.0", ("biosamples", "individuals", "analyses")),
    EntryType("individual", "individuals", "Individual",
              "A human being: here a pseudonymised donor of the genomic-medicine programme.",
              ("NCIT:C25190", "Person"), "ga4gh-beacon-individual-v2.0.0",
              ("g_variants", "biosamples")),
    EntryType("biosample", "biosamples", "Biological Sample",
              "A sample whose sequencing data the index holds.", ("NCIT:C70699", "Biospecimen"),
              "ga4gh-beacon-biosample-v2.0.0", ("g_variants", "analyses", "runs")),
    EntryType("run", "runs", "Sequencing run",
              "The valid and completed operation of a high-throughput sequencing instrument "
              "for a single sequencing process. [ NCI ]",
              ("NCIT:C148088", "Sequencing run"), "ga4gh-beacon-run-v2.0.0",
              ("g_variants", "analyses")),
    EntryType("analysis", "analyses", "Bioinformatics analysis",
              "Apply analytical methods to existing data of a specific type: here one "
              "catalogued VCF/BCF file.", ("edam:operation_2945", "Analysis"),
              "ga4gh-beacon-analysis-v2.0.0", ("g_variants",)),
    EntryType("dataset", "datasets", "Dataset",
              "A collection of genomic variants and the pseudonymised clinical data of its "
              "donors, as catalogued by the genome data center.",
              ("NCIT:C47824", "Data set"), "ga4gh-beacon-dataset-v2.0.0",
              ("g_variants", "individuals", "biosamples", "analyses", "runs"),
              (("genomicVariant", "Genomic Variants"), ("individual", "Individuals")), True),
    EntryType("cohort", "cohorts", "Cohort",
              "A group of individuals, identified by a common characteristic. [ NCI ] Here: "
              "the donors of one dataset (beacon-defined).", ("NCIT:C61512", "Cohort"),
              "ga4gh-beacon-cohort-v2.0.0",
              ("individuals", "g_variants", "biosamples", "analyses", "runs"),
              (("individual", "Individuals"),), True),
)

BY_PATH = {e.path: e for e in ENTRY_TYPES}
BY_ID = {e.id: e for e in ENTRY_TYPES}


def returned_schema(entry: EntryType) -> dict[str, str]:
    """A ``SchemasPerEntity`` item for this entry type's default schema."""
    return {"entityType": entry.id, "schema": entry.schema_id}
