"""Ports of the GRZ intake: what it needs from storage and from other components.

Other components' ports are consumed through small adapters (``ga4gh.grz.storage.bridges``) so
the intake's core depends only on the protocols below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ga4gh.grz.core.states import ErrorReason, FileResult, State, Submission


class SubmissionStore(Protocol):
    """Persistent state of every submission (one SQL adapter for SQLite and PostgreSQL)."""

    def get(self, submission_id: str) -> Submission | None:
        """The submission or None."""
        ...

    def recent(self, *, limit: int = 100) -> list[Submission]:
        """Most recently updated first."""
        ...

    def register(self, submission_id: str) -> Submission:
        """Create the submission in state ``uploaded`` (or return the existing one)."""
        ...

    def transition(self, submission_id: str, target: State, note: str = "") -> Submission:
        """Move to ``target`` (checked against the state machine) and record it."""
        ...

    def fail(self, submission_id: str, reason: ErrorReason, details: list[str]) -> Submission:
        """Move to ``error`` with a reason; releases the submission's tanG reservation."""
        ...

    def record_metadata(
        self,
        submission_id: str,
        *,
        submitter_id: str,
        submission_date: str,
        submission_type: str,
        genomic_data_center_id: str,
        metadata_sha256: str,
    ) -> None:
        """Remember the non-identifying submission header of the validated metadata."""
        ...

    def reserve_tan(self, submission_id: str, tan_digest: str) -> bool:
        """Reserve a tanG (by keyed digest) for this submission; False if another holds it."""
        ...

    def release_tan(self, submission_id: str) -> None:
        """Drop the submission's tanG reservation (a discarded test submission)."""
        ...

    def record_files(self, submission_id: str, files: list[FileResult]) -> None:
        """Replace the per-file results."""
        ...

    def record_qc(self, submission_id: str, passed: bool, report: dict[str, object]) -> None:
        """Store the QC outcome."""
        ...

    def mark_tan_exchange_started(self, submission_id: str) -> None:
        """Write-ahead marker before asking the trust center."""
        ...

    def record_pseudonym(self, submission_id: str, pseudonym: str) -> None:
        """Store the Genomdatensatzpseudonym the trust center returned."""
        ...

    def pseudonym(self, submission_id: str) -> str | None:
        """The stored Genomdatensatzpseudonym, if any."""
        ...


@dataclass(frozen=True)
class StagedSubmission:
    """A submission readable on local disk: ``metadata/metadata.json`` and ``files/``."""

    submission_id: str
    root: Path

    @property
    def metadata_path(self) -> Path:
        """Path of metadata.json."""
        return self.root / "metadata" / "metadata.json"

    def encrypted(self, file_path: str) -> Path:
        """Path of the Crypt4GH upload of a declared file."""
        return self.root / "files" / (file_path + ".c4gh")


class Inbox(Protocol):
    """Where hospitals upload submissions (a folder by default, S3-compatible optionally)."""

    def submission_ids(self) -> list[str]:
        """Ids (inbox prefixes) of the submissions present."""
        ...

    def stage(self, submission_id: str) -> StagedSubmission:
        """Make the submission readable locally (download for remote inboxes)."""
        ...

    def release(self, submission_id: str) -> None:
        """Drop any local copy ``stage`` made (never the hospital's upload)."""
        ...


@dataclass(frozen=True)
class DecryptedFile:
    """Result of streaming one encrypted file through decryption."""

    sha256: str
    size: int
    detected_format: str
    read_count: int | None
    # Plaintext kept only for files that are indexed and catalogued (BAM/CRAM/VCF).
    plaintext: Path | None


class FileProcessor(Protocol):
    """Decrypts while streaming, hashing and inspecting; keeps plaintext only where needed."""

    def process(self, encrypted: Path, declared_type: str, workdir: Path) -> DecryptedFile:
        """Decrypt one file; DecryptionFailed if the key does not open it or it is corrupt."""
        ...

    def alignment_stats(self, plaintext: Path) -> tuple[int, float | None]:
        """(mapped reads, mean depth over the reference) of an indexed BAM/CRAM."""
        ...


@dataclass(frozen=True)
class CatalogueEntry:
    """A file to make servable (htsget/DRS/Beacon) under a dataset pseudonym."""

    kind: str  # "aligned_reads" | "variant_calls"
    path: Path
    dataset_pseudonym: str
    donor_pseudonym: str
    reference_genome: str
    sha256: str
    tag: str  # submission tag: lets a resumed intake find and remove leftovers


class CatalogueRegistrar(Protocol):
    """The genomic catalogue as the intake uses it."""

    def register(self, entry: CatalogueEntry) -> str:
        """Index and register one file; returns its catalogue id."""
        ...

    def remove_tagged(self, tag: str, dataset_pseudonym: str | None) -> int:
        """Remove everything registered with this tag; returns how many objects."""
        ...


class TanExchange(Protocol):
    """The trust center's exchange of a tanG for a Genomdatensatzpseudonym."""

    def exchange(self, tan_g: str) -> str:
        """The dataset pseudonym; DuplicateTan if the tanG was exchanged before."""
        ...


class PruefberichtReceiver(Protocol):
    """The platform provider's reception of Prüfberichte (GRZ as an approved participant)."""

    def submit(self, report: dict[str, object], *, participant: str) -> None:
        """Deliver one Prüfbericht (camelCase JSON of BfArM's model)."""
        ...


class Archive(Protocol):
    """Where the redacted metadata of accepted submissions is kept."""

    def put_metadata(self, submission_id: str, redacted: dict[str, object]) -> None:
        """Store (idempotently) the redacted metadata.json."""
        ...

    def remove(self, submission_id: str) -> None:
        """Remove what put_metadata stored (rollback)."""
        ...


class AuditSink(Protocol):
    """The tamper-evident audit log (common.audit.AuditLog) as the intake uses it."""

    def __call__(self, event: str, details: dict[str, object]) -> None:
        """Append one event (details carry no tanG, pseudonym or local case id)."""
        ...


class Progress(Protocol):
    """Progress events for the CLI (no identifiers beyond the submission id)."""

    def step(self, submission_id: str, state: State, detail: str = "") -> None:
        """A step started."""
        ...
