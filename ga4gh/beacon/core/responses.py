"""Beacon v2 response documents (framework v2.0.0 ``responses/``: beaconBooleanResponse,
beaconCountResponse, beaconResultsetsResponse, beaconCollectionsResponse, beaconErrorResponse,
beaconInfoResponse, beaconMapResponse, beaconConfigurationResponse, beaconEntryTypesResponse,
beaconFilteringTermsResponse) and the default-model records (``beacon-v2-default-model``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ga4gh.beacon.core import assemblies
from ga4gh.beacon.core.entries import ENTRY_TYPES, MODEL_VERSION, EntryType, returned_schema
from ga4gh.beacon.core.filters import SEX_TERMS
from ga4gh.beacon.core.model import API_VERSION, BeaconQuery, Granularity
from ga4gh.beacon.core.ports import (
    AnalysisRecord,
    BiosampleRecord,
    DatasetRecord,
    EntryRecord,
    IndividualRecord,
    RunRecord,
    VariantRecord,
)
from ga4gh.beacon.core.variant_types import display_type

SCHEMA_BASE = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/framework/json/"
_ZYGOSITY = {
    "0/1": ("GENO:0000135", "heterozygous"),
    "1/1": ("GENO:0000136", "homozygous"),
    "1": ("GENO:0000134", "hemizygous"),
}
_ENVIRONMENTS = {"production": "prod", "prod": "prod", "staging": "staging", "test": "test",
                 "testing": "test"}


@dataclass(frozen=True)
class BeaconIdentity:
    """Who this beacon is (beaconInfoResults)."""

    id: str
    name: str
    organization_id: str
    organization_name: str
    organization_url: str
    environment: str
    version: str
    description: str = ""
    created: str = "2026-11-24T00:00:00Z"

    @property
    def spec_environment(self) -> str:
        return _ENVIRONMENTS.get(self.environment.lower(), "dev")


def variant_internal_id(assembly: str, chrom: str, start: int, ref: str, alt: str) -> str:
    """``<assembly>:<chrom>:<0-based start>:<ref>:<alt>`` (parse_variant_internal_id reverses)."""
    return f"{assembly}:{chrom}:{start}:{ref}:{alt}"


def parse_variant_internal_id(value: str) -> tuple[str, str, int, str, str] | None:
    """(assembly, chrom, start0, ref, alt) of a variantInternalId, or None if malformed."""
    parts = value.split(":")
    if len(parts) != 5 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2]), parts[3], parts[4]


def _sequence_id(assembly: str, chrom: str) -> str:
    """A CURIE for the sequence: its RefSeq accession where the assembly report has one."""
    accession = assemblies.refseq_accession(assembly, chrom)
    if accession:
        return "refseq:" + accession
    return f"insdc:{chrom}" if "." in chrom else f"genomseq:{assembly}.{chrom}"


def variant_record(r: VariantRecord, include_cases: bool) -> dict[str, Any]:
    """A genomicVariation (default model) with a LegacyVariation and VRS 1.3 location."""
    symbolic = r.alt.startswith("<") or "[" in r.alt or "]" in r.alt or "." in r.alt
    doc: dict[str, Any] = {
        "variantInternalId": variant_internal_id(r.assembly, r.chrom, r.start, r.ref, r.alt),
        "variation": {
            "variantType": display_type(r.storage_class, r.sv),
            "referenceBases": r.ref,
            # Symbolic and breakend ALTs are not bases: the variantType carries them.
            "alternateBases": "" if symbolic else r.alt,
            "location": {
                "type": "SequenceLocation",
                "sequence_id": _sequence_id(r.assembly, r.chrom),
                "interval": {
                    "type": "SequenceInterval",
                    "start": {"type": "Number", "value": r.start},
                    "end": {"type": "Number", "value": r.end},
                },
            },
        },
    }
    if include_cases and r.carriers:
        cases = []
        for c in r.carriers:
            case: dict[str, Any] = {"individualId": c.individual_id, "biosampleId": c.biosample_id,
                                    "analysisId": c.analysis_id}
            if c.zygosity in _ZYGOSITY:
                zid, label = _ZYGOSITY[c.zygosity]
                case["zygosity"] = {"id": zid, "label": label}
            cases.append(case)
        doc["caseLevelData"] = cases
    return doc


def individual_record(r: IndividualRecord) -> dict[str, Any]:
    """An individual (default model); sex is required, unknown when the FHIR data lacks it."""
    sex = r.sex if r.sex in SEX_TERMS else "NCIT:C17998"
    doc: dict[str, Any] = {"id": r.id, "sex": {"id": sex, "label": SEX_TERMS[sex]}}
    diseases = [{"diseaseCode": {"id": t}} for t in r.terms if t.startswith("ICD10GM:")]
    features = [{"featureType": {"id": t}} for t in r.terms if t.startswith("HP:")]
    if diseases:
        doc["diseases"] = diseases
    if features:
        doc["phenotypicFeatures"] = features
    return doc


def biosample_record(r: BiosampleRecord) -> dict[str, Any]:
    """A biosample (default model); status and origin are not recorded by the catalogue."""
    return {
        "id": r.id,
        "individualId": r.individual_id,
        "biosampleStatus": {"id": "NCIT:C17998", "label": "Unknown"},
        "sampleOriginType": {"id": "OBI:0001479", "label": "specimen from organism"},
    }


def analysis_record(r: AnalysisRecord) -> dict[str, Any]:
    """An analysis (default model): one catalogued VCF/BCF."""
    doc: dict[str, Any] = {"id": r.id, "analysisDate": r.analysis_date,
                           "pipelineName": r.pipeline_name}
    if r.individual_id:
        doc["individualId"] = r.individual_id
    if len(r.biosample_ids) == 1:
        doc["biosampleId"] = r.biosample_ids[0]
    return doc


def run_record(r: RunRecord) -> dict[str, Any]:
    """A run (default model): one catalogued read file of one biosample; fields the read
    file's header does not state are left out."""
    doc: dict[str, Any] = {"id": r.id, "biosampleId": r.biosample_id,
                           "individualId": r.individual_id, "runDate": r.run_date}
    if r.library_strategy:
        doc["libraryStrategy"] = r.library_strategy
    if r.library_layout:
        doc["libraryLayout"] = r.library_layout
    if r.platform:
        doc["platform"] = r.platform
    return doc


def entry_record(r: EntryRecord, include_cases: bool) -> dict[str, Any]:
    """The default-model document of one record."""
    if isinstance(r, RunRecord):
        return run_record(r)
    if isinstance(r, VariantRecord):
        return variant_record(r, include_cases)
    if isinstance(r, IndividualRecord):
        return individual_record(r)
    if isinstance(r, BiosampleRecord):
        return biosample_record(r)
    return analysis_record(r)


def dataset_record(d: DatasetRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": d.id, "name": d.name}
    if d.description:
        doc["description"] = d.description
    if d.created_at:
        doc["createDateTime"] = d.created_at
    if d.updated_at:
        doc["updateDateTime"] = d.updated_at
    return doc


def cohort_record(d: DatasetRecord, size: int | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": d.id, "name": f"Donors of {d.name}",
                           "cohortType": "beacon-defined"}
    if size is not None:
        doc["cohortSize"] = size
    return doc


def received_summary(q: BeaconQuery | None, default_limit: int = 10) -> dict[str, Any]:
    """receivedRequestSummary: the request as the beacon understood it."""
    if q is None:
        return {"apiVersion": API_VERSION, "requestedSchemas": [],
                "pagination": {"skip": 0, "limit": default_limit},
                "requestedGranularity": "boolean"}
    doc: dict[str, Any] = {
        "apiVersion": q.api_version,
        "requestedSchemas": list(q.requested_schemas),
        "pagination": {"skip": q.pagination.skip, "limit": q.pagination.limit},
        "requestedGranularity": q.requested_granularity.label,
        "includeResultsetResponses": q.include_resultset_responses,
        "testMode": q.test_mode,
    }
    if q.raw_filters:
        doc["filters"] = list(q.raw_filters)
    if q.request_parameters:
        doc["requestParameters"] = q.request_parameters
    return doc


def response_meta(beacon: BeaconIdentity, entry: EntryType | None, granularity: Granularity,
                  q: BeaconQuery | None, default_limit: int = 10) -> dict[str, Any]:
    """beaconResponseMeta."""
    meta: dict[str, Any] = {
        "beaconId": beacon.id,
        "apiVersion": API_VERSION,
        "returnedSchemas": [returned_schema(entry)] if entry else [],
        "returnedGranularity": granularity.label,
        "receivedRequestSummary": received_summary(q, default_limit),
    }
    if q is not None and q.test_mode:
        meta["testMode"] = True
    return meta


def informational_meta(beacon: BeaconIdentity) -> dict[str, Any]:
    """beaconInformationalResponseMeta."""
    return {"beaconId": beacon.id, "apiVersion": API_VERSION, "returnedSchemas": []}


def error_response(beacon: BeaconIdentity, status: int, message: str,
                   q: BeaconQuery | None = None) -> dict[str, Any]:
    """beaconErrorResponse: errorCode is the HTTP status."""
    return {
        "meta": response_meta(beacon, None, Granularity.BOOLEAN, q),
        "error": {"errorCode": status, "errorMessage": message},
    }


def info_response(beacon: BeaconIdentity) -> dict[str, Any]:
    """beaconInfoResponse for ``/`` and ``/info``."""
    return {
        "meta": informational_meta(beacon),
        "response": {
            "id": beacon.id,
            "name": beacon.name,
            "apiVersion": API_VERSION,
            "environment": beacon.spec_environment,
            "organization": {"id": beacon.organization_id, "name": beacon.organization_name,
                             "welcomeUrl": beacon.organization_url},
            "description": beacon.description,
            "version": "v" + beacon.version.removeprefix("v"),
            "createDateTime": beacon.created,
            "updateDateTime": beacon.created,
        },
    }


def _entry_definition(e: EntryType) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": e.id,
        "name": e.name,
        "description": e.description,
        "ontologyTermForThisType": {"id": e.term[0], "label": e.term[1]},
        "partOfSpecification": "Beacon " + MODEL_VERSION,
        "defaultSchema": {
            "id": e.schema_id,
            "name": f"Default schema for {e.name.lower()}",
            "referenceToSchemaDefinition": "https://raw.githubusercontent.com/ga4gh-beacon/"
            f"beacon-v2/main/models/json/beacon-v2-default-model/"
            f"{'genomicVariations' if e.path == 'g_variants' else e.path}/defaultSchema.json",
            "schemaVersion": MODEL_VERSION,
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": True,
    }
    if e.collection_of:
        doc["aCollectionOf"] = [{"id": i, "name": n} for i, n in e.collection_of]
    return doc


def entry_types_response(beacon: BeaconIdentity) -> dict[str, Any]:
    return {"meta": informational_meta(beacon),
            "response": {"entryTypes": {e.id: _entry_definition(e) for e in ENTRY_TYPES}}}


def configuration_response(beacon: BeaconIdentity, levels: list[str]) -> dict[str, Any]:
    return {
        "meta": informational_meta(beacon),
        "response": {
            "$schema": SCHEMA_BASE + "configuration/beaconConfigurationSchema.json",
            "maturityAttributes": {"productionStatus": {"prod": "PROD", "test": "TEST",
                                                        "staging": "TEST"}
                                   .get(beacon.spec_environment, "DEV")},
            "securityAttributes": {"defaultGranularity": "boolean", "securityLevels": levels},
            "entryTypes": {e.id: _entry_definition(e) for e in ENTRY_TYPES},
        },
    }


def map_response(beacon: BeaconIdentity, base_url: str) -> dict[str, Any]:
    """beaconMapResponse with absolute URLs under ``base_url`` (the beacon's root)."""
    sets: dict[str, Any] = {}
    for e in ENTRY_TYPES:
        endpoints = {}
        for related in e.related:
            target = next(t for t in ENTRY_TYPES if t.path == related)
            endpoints[f"{target.id}Lookup"] = {"returnedEntryType": target.id,
                                               "url": f"{base_url}/{e.path}/{{id}}/{related}"}
        sets[f"{e.id}Endpoints"] = {
            "entryType": e.id,
            "rootUrl": f"{base_url}/{e.path}",
            "singleEntryUrl": f"{base_url}/{e.path}/{{id}}",
            "endpoints": endpoints,
        }
    return {"meta": informational_meta(beacon),
            "response": {"$schema": SCHEMA_BASE + "configuration/beaconMapSchema.json",
                         "endpointSets": sets}}


RESOURCES = [
    {"id": "ncit", "name": "NCI Thesaurus OBO Edition", "url": "http://purl.obolibrary.org/obo/ncit.owl",
     "nameSpacePrefix": "NCIT", "iriPrefix": "http://purl.obolibrary.org/obo/NCIT_"},
    {"id": "hp", "name": "Human Phenotype Ontology", "url": "http://purl.obolibrary.org/obo/hp.owl",
     "nameSpacePrefix": "HP", "iriPrefix": "http://purl.obolibrary.org/obo/HP_"},
    {"id": "icd10gm", "name": "ICD-10-GM (BfArM)",
     "url": "http://fhir.de/CodeSystem/bfarm/icd-10-gm", "nameSpacePrefix": "ICD10GM"},
]
ALPHANUMERIC_FIELDS = (("age", "age in whole years at index time (numeric operators)"),
                       ("sex", "male, female, other or unknown"),
                       ("diagnosis", "ICD-10-GM code"), ("phenotype", "HPO term"))


def filtering_terms_response(beacon: BeaconIdentity, terms: list[tuple[str, str]],
                             label: Callable[[str], str | None] | None = None
                             ) -> dict[str, Any]:
    """beaconFilteringTermsResponse: indexed ontology terms and the alphanumeric fields."""
    out: list[dict[str, Any]] = []
    for term, _kind in sorted(terms):
        item: dict[str, Any] = {"type": "ontologyTerm", "id": term, "scopes": ["individuals"]}
        text = SEX_TERMS.get(term) or (label(term) if label and term.startswith("HP:") else None)
        if text:
            item["label"] = text
        out.append(item)
    for field, description in ALPHANUMERIC_FIELDS:
        out.append({"type": "alphanumeric", "id": field, "label": description,
                    "scopes": ["individuals"]})
    return {"meta": informational_meta(beacon),
            "response": {"filteringTerms": out, "resources": RESOURCES}}
