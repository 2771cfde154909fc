"""GRZ submission metadata (BfArM MVGenomseq GRZ metadata schema, ``GRZ/grz-schema.json``
v1.1.1 to v1.3.x) validated with BfArM's own pydantic models (PyPI ``grz-pydantic-models``,
``grz_pydantic_models.submission.metadata.GrzSubmissionMetadata``).

The archive rules are the models' own: ``redact_metadata_dict`` zeroes the tanG, replaces the
localCaseId and normalises the index donor's pseudonym to ``index``.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from grz_pydantic_models.submission.metadata import (
    REDACTED_LOCAL_CASE_ID,
    REDACTED_TAN,
    GrzSubmissionMetadata,
    MissingThresholdsException,
    redact_metadata_dict,
)
from pydantic import ValidationError

from ga4gh.grz.core.errors import MetadataInvalid

__all__ = [
    "REDACTED_TAN",
    "DeclaredFile",
    "declared_files",
    "inbox_prefix",
    "parse_metadata",
    "raw_file_paths",
    "redacted",
    "scrub",
    "validate_metadata",
]


# The models report soft findings as log warnings; they quote donor pseudonyms and checksums, so
# they are collected per validation instead of reaching the logs.
_findings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "grz_metadata_findings", default=None
)

# Warnings of the models that this GRZ treats as refusals. BfArM's failing examples include a
# submission without VCF, which the model itself only warns about ("recommended, but not
# required"); the model-project QC requires variant calls, so the GRZ refuses it.
STRICT_WARNINGS = ("VCF file missing for lab datum",)


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sink = _findings.get()
        if sink is not None:
            sink.append(record.getMessage())


def _install_collector() -> None:
    logger = logging.getLogger("grz_pydantic_models")
    if not any(isinstance(h, _Collect) for h in logger.handlers):
        logger.addHandler(_Collect(logging.WARNING))
        logger.propagate = False


_install_collector()


@dataclass(frozen=True)
class ValidatedMetadata:
    """A metadata document that passed the models, with the models' non-fatal findings."""

    model: GrzSubmissionMetadata
    warnings: tuple[str, ...]


def validate_metadata(
    raw: bytes | str, *, strict_warnings: tuple[str, ...] = STRICT_WARNINGS
) -> ValidatedMetadata:
    """Validate metadata.json; model errors and strict warnings raise MetadataInvalid."""
    sink: list[str] = []
    token = _findings.set(sink)
    try:
        model = parse_metadata(raw)
    finally:
        _findings.reset(token)
    refusals = [w for w in sink if any(w.startswith(prefix) for prefix in strict_warnings)]
    if refusals:
        raise MetadataInvalid(refusals)
    return ValidatedMetadata(model, tuple(sink))


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(document)"


def parse_metadata(raw: bytes | str) -> GrzSubmissionMetadata:
    """Validate metadata.json; raise MetadataInvalid with the model's reasons."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataInvalid([f"metadata.json is not JSON: {exc}"]) from exc
    if not isinstance(document, dict):
        raise MetadataInvalid(["metadata.json must be a JSON object"])
    try:
        return GrzSubmissionMetadata.model_validate(document)
    except ValidationError as exc:
        reasons = [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise MetadataInvalid(reasons) from None
    except ValueError as exc:  # model validators may raise plain ValueErrors outside pydantic
        raise MetadataInvalid([str(exc)]) from None


def inbox_prefix(metadata: GrzSubmissionMetadata) -> str:
    """``{submitterId}_{submissionDate}_{first 8 hex of sha256(tanG)}`` (grz-cli submission id)."""
    return metadata.submission_id


def redacted(metadata: GrzSubmissionMetadata) -> dict[str, Any]:
    """The metadata as it may be archived: tanG zeroed, localCaseId and index pseudonym replaced."""
    return redact_metadata_dict(metadata.get_raw_dict())


def scrub(messages: list[str], raw: bytes | str) -> list[str]:
    """Messages with the document's tanG and localCaseId replaced, as grz-cli redacts its logs.

    The models quote donor pseudonyms in their reasons, and documents up to v1.1.7 put the
    tanG there for the index donor; reasons are stored and shown to the hospital, the tanG never.
    """
    try:
        submission = json.loads(raw).get("submission", {})
    except (ValueError, UnicodeDecodeError, AttributeError):
        return messages
    if not isinstance(submission, dict):
        return messages
    patterns = []
    for key, placeholder in (("tanG", "REDACTED_TAN_G"), ("localCaseId", REDACTED_LOCAL_CASE_ID)):
        value = submission.get(key)
        if isinstance(value, str) and len(value) >= 4 and value != REDACTED_TAN:
            patterns.append((value, placeholder))
    out = []
    for m in messages:
        for value, placeholder in patterns:
            m = m.replace(value, placeholder).replace(value.lower(), placeholder)
        out.append(m)
    return out


def raw_file_paths(raw: bytes | str) -> list[str]:
    """File paths a (possibly invalid) metadata.json declares; for the completeness check."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return []
    paths: list[str] = []
    donors = document.get("donors") if isinstance(document, dict) else None
    for donor in donors if isinstance(donors, list) else []:
        for lab in (donor or {}).get("labData") or []:
            seq = (lab or {}).get("sequenceData") or {}
            for f in seq.get("files") or []:
                if isinstance(f, dict) and isinstance(f.get("filePath"), str):
                    paths.append(f["filePath"])
    return paths


@dataclass(frozen=True)
class DeclaredFile:
    """One file of the submission with what the metadata says about it."""

    donor_index: int
    is_index_donor: bool
    lab_data_name: str
    library_type: str
    sequence_type: str
    reference_genome: str
    mean_depth_of_coverage: float
    file_path: str
    file_type: str
    checksum: str
    size: int
    read_length: int | None
    read_order: str | None = None
    flowcell_id: str | None = None
    lane_id: str | None = None
    # BfArM's minimum mean depth for this sequencing configuration (None: no threshold defined).
    threshold_mean_depth: float | None = None

    @property
    def encrypted_path(self) -> str:
        """Path under files/ of the Crypt4GH-encrypted upload."""
        return self.file_path + ".c4gh"


def declared_files(metadata: GrzSubmissionMetadata) -> list[DeclaredFile]:
    """Every file the validated metadata declares, in document order."""
    out: list[DeclaredFile] = []
    for i, donor in enumerate(metadata.donors):
        for lab in donor.lab_data:
            seq = lab.sequence_data
            if seq is None:
                continue
            try:
                threshold: float | None = metadata.determine_thresholds_for(
                    donor, lab
                ).mean_depth_of_coverage
            except MissingThresholdsException:
                threshold = None
            for f in seq.files:
                out.append(
                    DeclaredFile(
                        donor_index=i,
                        is_index_donor=str(donor.relation) == "index",
                        lab_data_name=lab.lab_data_name,
                        library_type=str(lab.library_type),
                        sequence_type=str(lab.sequence_type),
                        reference_genome=str(seq.reference_genome),
                        mean_depth_of_coverage=float(seq.mean_depth_of_coverage),
                        file_path=f.file_path,
                        file_type=str(f.file_type),
                        checksum=f.file_checksum.lower(),
                        size=f.file_size_in_bytes,
                        read_length=f.read_length,
                        read_order=str(f.read_order) if f.read_order else None,
                        flowcell_id=f.flowcell_id,
                        lane_id=f.lane_id,
                        threshold_mean_depth=threshold,
                    )
                )
    return out


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()
