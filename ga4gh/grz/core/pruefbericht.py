"""The Prüfbericht a GRZ sends to the platform provider (BfArM) for every submission.

Fields and types are those of BfArM's model ``grz_pydantic_models.pruefbericht.Pruefbericht``
(Prüfbericht schema v0.x, ``SubmittedCase``): the report carries the tanG as ``tan`` because
BfArM matches it to the Leistungserbringer's Meldung; the GRZ does not keep it afterwards.
"""

from __future__ import annotations

from grz_pydantic_models.pruefbericht import (
    DataCategory,
    LibraryType,
    Pruefbericht,
    SubmittedCase,
)
from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata


def build_pruefbericht(metadata: GrzSubmissionMetadata, *, quality_passed: bool) -> Pruefbericht:
    """The Prüfbericht for a validated submission (library type: the most expensive one)."""
    library_types = {str(lab.library_type) for donor in metadata.donors for lab in donor.lab_data}
    s = metadata.submission
    case = SubmittedCase.model_validate(
        {
            "submissionDate": s.submission_date,
            "submissionType": s.submission_type,
            "tan": s.tan_g,
            "submitterId": s.submitter_id,
            "dataNodeId": s.genomic_data_center_id,
            "diseaseType": s.disease_type,
            "dataCategory": DataCategory.genomic,
            "libraryType": LibraryType.most_expensive(library_types),
            "coverageType": s.coverage_type,
            "dataQualityCheckPassed": quality_passed,
        }
    )
    return Pruefbericht.model_validate({"SubmittedCase": case})


def pruefbericht_json(report: Pruefbericht) -> dict[str, object]:
    """The report as BfArM's API expects it (camelCase aliases)."""
    return report.model_dump(mode="json", by_alias=True)
