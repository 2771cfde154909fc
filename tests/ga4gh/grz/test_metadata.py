"""metadata.json validation with BfArM's models over all grz-pydantic-models-testing examples."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import grz_pydantic_models_testing
import pytest

from ga4gh.grz.core.errors import MetadataInvalid
from ga4gh.grz.core.metadata import REDACTED_TAN, redacted, validate_metadata

BASE = Path(str(importlib.resources.files(grz_pydantic_models_testing)))
EXAMPLES = sorted(p for p in (BASE / "example_metadata").rglob("*.json"))
FAILING = sorted((BASE / "failing_metadata").glob("*.json"))

# The model's own reason for each failing example (the start of its message).
EXPECTED_REASONS = {
    "duplicate-run-id.json": "Each read file in a lab datum must have a unique combination",
    "incompatible-reference-genomes.json": "Incompatible reference genomes found",
    "missing-fastq-r2.json": "Paired end sequencing layout but not there is not exactly one R1",
    "missing-read-order.json": "No read order specified for FASTQ file",
    "missing-target-regions.json": "BED file missing for lab datum",
    "missing-vcf-file.json": "VCF file missing for lab datum",
}


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 10 and len(FAILING) == len(EXPECTED_REASONS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_submissions_validate(path: Path) -> None:
    result = validate_metadata(path.read_bytes())
    assert result.model.submission.submitter_id


@pytest.mark.parametrize("path", FAILING, ids=lambda p: p.name)
def test_failing_examples_are_refused_with_the_models_reason(path: Path) -> None:
    with pytest.raises(MetadataInvalid) as exc:
        validate_metadata(path.read_bytes())
    assert any(EXPECTED_REASONS[path.name] in r for r in exc.value.reasons), exc.value.reasons


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "metadata.json is not JSON"),
        (b"[]", "metadata.json must be a JSON object"),
        (b"{}", "$schema: Field required"),
    ],
)
def test_malformed_documents(raw: bytes, reason: str) -> None:
    with pytest.raises(MetadataInvalid) as exc:
        validate_metadata(raw)
    assert reason in exc.value.reasons[0] or any(reason in r for r in exc.value.reasons)


def test_redaction_follows_the_archive_rules() -> None:
    path = BASE / "example_metadata" / "wgs_trio" / "v1.1.7.earlyBCException.json"
    model = validate_metadata(path.read_bytes()).model
    out = redacted(model)
    assert out["submission"]["tanG"] == REDACTED_TAN
    assert out["submission"]["localCaseId"] == "REDACTED_LOCAL_CASE_ID"
    index = [d for d in out["donors"] if d["relation"] == "index"]
    assert [d["donorPseudonym"] for d in index] == ["index"]
    assert model.submission.tan_g not in str(out)
