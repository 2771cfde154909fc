"""The persistent state machine of one GRZ submission.

The states follow the GRZ processing pipeline of the Modellvorhaben Genomsequenzierung (grz-cli
/ grzctl: download, decrypt, validate, archive, Prüfbericht, QC). A submission moves forward one
step at a time; every *working* state (``downloading`` ... ``qc``) is re-entered from its start
after a crash, because each step is idempotent; ``finished`` and ``error`` are terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class State(StrEnum):
    """Where a submission is in the intake pipeline."""

    uploaded = "uploaded"
    downloading = "downloading"
    decrypting = "decrypting"
    validating = "validating"
    validated = "validated"
    archiving = "archiving"
    archived = "archived"
    reporting = "reporting"
    reported = "reported"
    qc = "QC"
    finished = "finished"
    error = "error"


class ErrorReason(StrEnum):
    """Why a submission ended in ``error``."""

    duplicate_tan = "duplicate tanG"
    incomplete_submission = "incomplete submission"
    decryption_error = "decryption error"
    validation_error = "validation error"
    # A crash left a step whose outcome cannot be re-derived (see IntakeService._archive).
    interrupted = "interrupted"


TERMINAL = frozenset({State.finished, State.error})

# Forward transitions; every non-terminal state may also go to error.
_NEXT: dict[State, frozenset[State]] = {
    State.uploaded: frozenset({State.downloading}),
    State.downloading: frozenset({State.decrypting}),
    # After a restart, a half-done decryption or validation starts over from the download.
    State.decrypting: frozenset({State.validating, State.downloading}),
    State.validating: frozenset({State.validated, State.downloading}),
    # A test submission is validated and then reported without being archived.
    State.validated: frozenset({State.archiving, State.reporting}),
    State.archiving: frozenset({State.archived}),
    State.archived: frozenset({State.reporting}),
    State.reporting: frozenset({State.reported}),
    State.reported: frozenset({State.qc, State.finished}),
    State.qc: frozenset({State.finished}),
}


class IllegalTransition(ValueError):
    """A transition the state machine does not allow (a programming error, never user input)."""


def check_transition(current: State, target: State) -> None:
    """Raise IllegalTransition unless ``current -> target`` is allowed."""
    if current in TERMINAL:
        raise IllegalTransition(f"submission is {current}; no further transitions")
    if target is State.error or target in _NEXT.get(current, frozenset()):
        return
    raise IllegalTransition(f"{current} -> {target} is not a transition of the intake")


# The step that (re)starts when a submission is found in a state after a restart.
RESUME_FROM: dict[State, State] = {
    State.uploaded: State.downloading,
    State.downloading: State.downloading,
    State.decrypting: State.downloading,  # the staging area may be partial: stage again
    State.validating: State.downloading,
    State.validated: State.validated,
    State.archiving: State.archiving,
    State.archived: State.archived,
    State.reporting: State.reporting,
    State.reported: State.reported,
    State.qc: State.qc,
}


@dataclass(frozen=True)
class FileResult:
    """What the intake found for one declared file."""

    file_path: str
    file_type: str
    declared_checksum: str
    declared_size: int
    observed_checksum: str = ""
    observed_size: int = -1
    detected_format: str = ""
    read_count: int | None = None
    mean_coverage: float | None = None
    catalogue_id: str = ""


@dataclass(frozen=True)
class Transition:
    """One entry of a submission's history."""

    state: State
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class Submission:
    """A submission as the GRZ tracks it. Holds no tanG and no local case id."""

    submission_id: str
    state: State
    created: datetime
    updated: datetime
    submitter_id: str = ""
    submission_date: date | None = None
    submission_type: str = ""
    genomic_data_center_id: str = ""
    error_reason: ErrorReason | None = None
    error_detail: list[str] = field(default_factory=list)
    # sha256 of metadata.json as validated; reporting re-reads and compares it.
    metadata_sha256: str = ""
    qc_passed: bool | None = None
    qc_report: dict[str, object] = field(default_factory=dict)
    # Set once the trust center was asked (so a crash in between is detected) and answered.
    tan_exchange_started: bool = False
    has_pseudonym: bool = False
    files: list[FileResult] = field(default_factory=list)
    history: list[Transition] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        """True when the submission is finished or refused."""
        return self.state in TERMINAL
