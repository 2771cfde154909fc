"""Validation of responses against the Beacon v2 framework (vendored, see schemas/README.md)
and default-model (PyPI beacon2-cbi-tools) JSON schemas, fully offline."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

FRAMEWORK = Path(__file__).parent / "schemas" / "framework"
BASE = "https://schemas.test/beacon-v2/framework/"
MODEL_DIRS = {"g_variants": "genomicVariations", "individuals": "individuals",
              "biosamples": "biosamples", "datasets": "datasets", "cohorts": "cohorts",
              "runs": "runs", "analyses": "analyses"}


@functools.cache
def _registry() -> Registry:
    resources_ = []
    for path in FRAMEWORK.rglob("*.json"):
        uri = BASE + path.relative_to(FRAMEWORK).as_posix()
        contents = json.loads(path.read_text())
        resources_.append((uri, Resource.from_contents(contents,
                                                       default_specification=DRAFT202012)))
    return Registry().with_resources(resources_)


def framework_errors(doc: Any, schema: str) -> list[str]:
    """Validation errors of ``doc`` against a framework schema (e.g. responses/x.json)."""
    validator = Draft202012Validator({"$ref": BASE + schema}, registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


@functools.cache
def _model(entry: str) -> Draft202012Validator:
    root = resources.files("bff_tools") / "schemas" / "v2.0.0" / MODEL_DIRS[entry]
    schema = json.loads((root / "defaultSchema.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def model_errors(doc: Any, entry: str) -> list[str]:
    """Validation errors of one record against the default model of an entry type."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _model(entry).iter_errors(doc)]


RESPONSE_SCHEMAS = {
    "boolean": "responses/beaconBooleanResponse.json",
    "count": "responses/beaconCountResponse.json",
    "record": "responses/beaconResultsetsResponse.json",
}


def assert_valid_entry_response(doc: dict[str, Any], entry: str) -> None:
    """The response is valid for its returned granularity, and so is every record."""
    granularity = doc["meta"]["returnedGranularity"]
    if "collections" in doc.get("response", {}):
        schema = "responses/beaconCollectionsResponse.json"
        records = doc["response"]["collections"]
    else:
        schema = RESPONSE_SCHEMAS[granularity]
        records = [r for rs in doc.get("response", {}).get("resultSets", [])
                   for r in rs["results"]]
    errors = framework_errors(doc, schema)
    for r in records:
        errors += model_errors(r, entry)
    assert not errors, errors


def assert_valid_error(doc: dict[str, Any], status: int) -> None:
    """A Beacon error response carrying the HTTP status as errorCode."""
    assert not framework_errors(doc, "responses/beaconErrorResponse.json"), \
        framework_errors(doc, "responses/beaconErrorResponse.json")
    assert doc["error"]["errorCode"] == status
