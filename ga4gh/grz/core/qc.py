"""Quality control of a GRZ submission (BfArM, "Qualitätskontrolle durch die GRZ" of the
Modellvorhaben Genomsequenzierung; thresholds and the 10 % deviation rule as shipped in
``grz_pydantic_models.submission.thresholds``).

Basic QC runs on every submission while it is validated (its result is the Prüfbericht's
``dataQualityCheckPassed``): every sequence file has reads, paired FASTQ files have as many reads
in R1 as in R2. Detailed QC compares the mean depth of coverage computed from aligned reads
with BfArM's minimum for the sequencing configuration and with the submitter's declaration.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from grz_pydantic_models.submission.thresholds import PCT_DEV_CUTOFF

from ga4gh.grz.core.metadata import DeclaredFile
from ga4gh.grz.core.states import FileResult


@dataclass(frozen=True)
class QcOutcome:
    """Pass/fail with the findings that explain it."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, object] = field(default_factory=dict)


def basic_qc(declared: list[DeclaredFile], results: dict[str, FileResult]) -> QcOutcome:
    """Read counts of every FASTQ/BAM file and R1/R2 consistency."""
    failures: list[str] = []
    pairs: dict[tuple[int, str, str | None, str | None], dict[str, int]] = defaultdict(dict)
    total_reads = 0
    for d in declared:
        r = results.get(d.file_path)
        if r is None or r.read_count is None:
            continue
        total_reads += r.read_count
        if d.file_type in ("fastq", "bam") and r.read_count == 0:
            failures.append(f"file {d.file_path}: no reads")
        if d.file_type == "fastq" and d.read_order:
            key = (d.donor_index, d.lab_data_name, d.flowcell_id, d.lane_id)
            pairs[key][d.read_order] = r.read_count
    for (_donor, lab, _fc, _lane), counts in pairs.items():
        if "R1" in counts and "R2" in counts and counts["R1"] != counts["R2"]:
            failures.append(
                f"lab datum {lab}: R1 has {counts['R1']} reads but R2 has {counts['R2']}"
            )
    return QcOutcome(not failures, failures, metrics={"reads": total_reads})


def detailed_qc(declared: list[DeclaredFile], results: dict[str, FileResult]) -> QcOutcome:
    """Computed mean depth of coverage against BfArM's minimum and the declared value."""
    failures: list[str] = []
    notes: list[str] = []
    coverage: dict[str, float] = {}
    for d in declared:
        r = results.get(d.file_path)
        if d.file_type != "bam" or r is None or r.mean_coverage is None:
            continue
        computed = r.mean_coverage
        coverage[d.file_path] = round(computed, 3)
        if d.threshold_mean_depth is not None and computed < d.threshold_mean_depth:
            failures.append(
                f"lab datum {d.lab_data_name}: mean depth {computed:.1f} below the minimum "
                f"{d.threshold_mean_depth:g}"
            )
        if d.mean_depth_of_coverage > 0:
            deviation = abs(computed - d.mean_depth_of_coverage) / d.mean_depth_of_coverage * 100
            if deviation > PCT_DEV_CUTOFF:
                notes.append(
                    f"lab datum {d.lab_data_name}: computed mean depth {computed:.1f} deviates "
                    f"{deviation:.0f} % from the declared {d.mean_depth_of_coverage:g}"
                )
    if not coverage:
        notes.append("no aligned reads allow computing the mean depth of coverage")
    return QcOutcome(not failures, failures, notes, {"meanDepthOfCoverage": coverage})
