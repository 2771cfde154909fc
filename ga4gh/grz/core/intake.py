"""The GRZ intake pipeline: one submission through download, decryption, validation, archiving,
Prüfbericht and QC, persisted step by step so that a restart resumes or fails cleanly.

Order and rules follow BfArM's GRZ process for the Modellvorhaben Genomsequenzierung as grz-cli /
grzctl implement it: the submission id is ``{submitterId}_{submissionDate}_{sha256(tanG)[:8]}``;
every file is checked against metadata.json (SHA-256 and size of the plaintext); the tanG is
exchanged with the trust center and never kept (archive copy redacted by the models' own rule);
a ``test`` submission is validated and reported, then discarded.

Crash safety: every step is idempotent and re-entered from its start after a restart. The only
step with an outside effect that cannot be repeated is the trust center's tanG exchange
(duplicates are refused there), so it is bracketed by a write-ahead marker; a crash between the
marker and the stored answer ends the submission in ``error (interrupted)`` instead of guessing.
Catalogue entries carry a per-submission tag and are removed before archiving is retried and
when a submission fails, so no half-registered data stays visible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import GenomseqError
from ga4gh.grz.core.errors import (
    DecryptionFailed,
    DuplicateTan,
    FileUnusable,
    IntakeRefused,
    MetadataInvalid,
    TanRefused,
)
from ga4gh.grz.core.formats import FileFormat, format_matches
from ga4gh.grz.core.metadata import (
    DeclaredFile,
    ValidatedMetadata,
    declared_files,
    raw_file_paths,
    redacted,
    scrub,
    validate_metadata,
)
from ga4gh.grz.core.pruefbericht import build_pruefbericht, pruefbericht_json
from ga4gh.grz.core.qc import basic_qc, detailed_qc
from ga4gh.grz.core.states import RESUME_FROM, ErrorReason, FileResult, State, Submission
from ga4gh.grz.ports import (
    Archive,
    AuditSink,
    CatalogueEntry,
    CatalogueRegistrar,
    FileProcessor,
    Inbox,
    Progress,
    PruefberichtReceiver,
    StagedSubmission,
    SubmissionStore,
    TanExchange,
)

# Aligned reads and variant calls are catalogued; FASTQ and BED are verified and archived only.
CATALOGUED = {"bam": "aligned_reads", "vcf": "variant_calls"}


class _NoProgress:
    def step(self, submission_id: str, state: State, detail: str = "") -> None:
        return None


@dataclass
class IntakeConfig:
    """What the intake needs to know about this GRZ."""

    # GRZXXXnnn of this genome data center; submissions addressed elsewhere are refused.
    genomic_data_center_id: str
    # Secret for the keyed tanG digest used to detect duplicates without storing tanGs.
    tan_key: bytes
    work_dir: Path
    strict_warnings: tuple[str, ...] | None = None


@dataclass
class _Run:
    """What one run learned about a submission (rebuilt from the inbox after a restart)."""

    staged: StagedSubmission
    metadata: ValidatedMetadata
    declared: list[DeclaredFile]
    results: dict[str, FileResult] = field(default_factory=dict)
    plaintexts: dict[str, Path] = field(default_factory=dict)


def tan_digest(key: bytes, tan_g: str) -> str:
    """Keyed digest of a tanG (HMAC-SHA256, lower-cased hex input) for duplicate detection."""
    return hmac.new(key, tan_g.lower().encode("ascii"), hashlib.sha256).hexdigest()


class IntakeService:
    """Runs submissions through the state machine."""

    def __init__(
        self,
        *,
        store: SubmissionStore,
        inbox: Inbox,
        processor: FileProcessor,
        catalogue: CatalogueRegistrar,
        tans: TanExchange,
        reports: PruefberichtReceiver,
        archive: Archive,
        config: IntakeConfig,
        progress: Progress | None = None,
        audit: AuditSink | None = None,
        # Which reported submissions get detailed QC (BfArM: at least 2 %, at least one a month).
        select_for_detailed_qc: Callable[[Submission], bool] = lambda s: True,
    ) -> None:
        self.store = store
        self.inbox = inbox
        self.processor = processor
        self.catalogue = catalogue
        self.tans = tans
        self.reports = reports
        self.archive = archive
        self.config = config
        self.progress = progress or _NoProgress()
        self.audit = audit
        self.select_for_detailed_qc = select_for_detailed_qc

    # -- driving -----------------------------------------------------------------------------

    def run_all(self) -> list[Submission]:
        """Process every submission in the inbox that is not finished or refused."""
        return [self.run(sid) for sid in self.inbox.submission_ids()]

    def run(self, submission_id: str) -> Submission:
        """Take one submission as far as it goes; returns its final record."""
        sub = self.store.get(submission_id) or self.store.register(submission_id)
        if sub.terminal:
            return sub
        run: _Run | None = None
        try:
            state = RESUME_FROM[sub.state]
            if state is State.downloading:
                run = self._download(sub)
                run = self._decrypt(sub, run)
                self._validate(sub, run)
                state = State.validated
            if run is None:
                run = self._reload(sub)
            if state is State.validated:
                if sub.submission_type == "test" or self._type(run) == "test":
                    # A test submission is validated and reported, never archived.
                    self._drop_plaintexts(run)
                    state = State.reporting
                else:
                    state = State.archiving
            if state is State.archiving:
                self._archive(sub, run)
                state = State.archived
            if state is State.archived:
                state = State.reporting
            if state is State.reporting:
                self._report(sub, run)
                state = State.reported
            if state is State.reported:
                current = self.store.get(submission_id)
                assert current is not None
                if self._type(run) == "test":
                    # Discarded: nothing archived, and its tanG may be used for real later.
                    self.store.release_tan(submission_id)
                    return self._finish(submission_id, "test submission: reported and discarded")
                if self.select_for_detailed_qc(current):
                    state = State.qc
                else:
                    return self._finish(submission_id, "detailed QC not selected")
            if state is State.qc:
                self._detailed_qc(sub, run)
                return self._finish(submission_id, "")
        except IntakeRefused as exc:
            return self._refuse(submission_id, ErrorReason(exc.reason), [exc.message, *exc.details])
        finally:
            if run is not None:
                self._drop_plaintexts(run)
        current = self.store.get(submission_id)
        assert current is not None
        return current

    # -- steps -------------------------------------------------------------------------------

    def _enter(self, submission_id: str, state: State, note: str = "") -> None:
        current = self.store.get(submission_id)
        if current is not None and current.state is not state:
            self.store.transition(submission_id, state, note)
        self.progress.step(submission_id, state, note)

    def _download(self, sub: Submission) -> _Run:
        self._enter(sub.submission_id, State.downloading)
        staged = self.inbox.stage(sub.submission_id)
        if not staged.metadata_path.is_file():
            raise IntakeRefused(
                ErrorReason.incomplete_submission, "metadata/metadata.json is missing"
            )
        raw = staged.metadata_path.read_bytes()
        missing = [p for p in raw_file_paths(raw) if not staged.encrypted(p).is_file()]
        if missing:
            raise IntakeRefused(
                ErrorReason.incomplete_submission,
                f"{len(missing)} declared file(s) missing from files/",
                details=[f"missing: files/{p}.c4gh" for p in missing[:20]],
            )
        # The metadata is validated here already (it costs milliseconds) so that an invalid
        # submission is refused before terabytes are decrypted.
        validated = self._validated_metadata(sub.submission_id, raw)
        return _Run(staged, validated, declared_files(validated.model))

    def _validated_metadata(self, submission_id: str, raw: bytes) -> ValidatedMetadata:
        try:
            if self.config.strict_warnings is None:
                validated = validate_metadata(raw)
            else:
                validated = validate_metadata(raw, strict_warnings=self.config.strict_warnings)
        except MetadataInvalid as exc:
            raise IntakeRefused(
                ErrorReason.validation_error,
                "metadata.json is invalid",
                details=scrub(exc.reasons, raw),
            ) from None
        model = validated.model
        problems = []
        if model.submission_id != submission_id:
            problems.append(
                "the inbox prefix does not match {submitterId}_{submissionDate}_{sha256(tanG)[:8]}"
            )
        if model.submission.genomic_data_center_id != self.config.genomic_data_center_id:
            problems.append("genomicDataCenterId names another genome data center")
        if problems:
            raise IntakeRefused(
                ErrorReason.validation_error, "submission is not addressed here", details=problems
            )
        self.store.record_metadata(
            submission_id,
            submitter_id=model.submission.submitter_id,
            submission_date=model.submission.submission_date.isoformat(),
            submission_type=str(model.submission.submission_type),
            genomic_data_center_id=model.submission.genomic_data_center_id,
            metadata_sha256=hashlib.sha256(raw).hexdigest(),
        )
        digest = tan_digest(self.config.tan_key, model.submission.tan_g)
        if not self.store.reserve_tan(submission_id, digest):
            raise IntakeRefused(
                ErrorReason.duplicate_tan, "the tanG was already used by another submission"
            )
        return validated

    def _workdir(self, submission_id: str) -> Path:
        return self.config.work_dir / submission_id

    def _decrypt(self, sub: Submission, run: _Run) -> _Run:
        self._enter(sub.submission_id, State.decrypting)
        workdir = self._workdir(sub.submission_id)
        # A previous attempt may have left partial plaintext: start clean.
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        for d in run.declared:
            if d.file_path in run.results:
                continue  # the same file listed twice (e.g. a shared BED)
            self.progress.step(sub.submission_id, State.decrypting, d.file_path)
            try:
                out = self.processor.process(
                    run.staged.encrypted(d.file_path), d.file_type, workdir
                )
            except DecryptionFailed as exc:
                raise IntakeRefused(
                    ErrorReason.decryption_error, f"files/{d.encrypted_path}: {exc.message}"
                ) from None
            if out.plaintext is not None:
                run.plaintexts[d.file_path] = out.plaintext
            mean_cov = None
            read_count = out.read_count
            if out.plaintext is not None and out.detected_format in ("BAM", "CRAM"):
                try:
                    read_count, mean_cov = self.processor.alignment_stats(out.plaintext)
                except FileUnusable as exc:
                    raise IntakeRefused(
                        ErrorReason.validation_error, f"files/{d.file_path}: {exc.message}"
                    ) from None
            run.results[d.file_path] = FileResult(
                file_path=d.file_path,
                file_type=d.file_type,
                declared_checksum=d.checksum,
                declared_size=d.size,
                observed_checksum=out.sha256,
                observed_size=out.size,
                detected_format=out.detected_format,
                read_count=read_count,
                mean_coverage=mean_cov,
            )
        return run

    def _validate(self, sub: Submission, run: _Run) -> None:
        self._enter(sub.submission_id, State.validating)
        problems: list[str] = []
        for d in run.declared:
            r = run.results[d.file_path]
            if r.observed_checksum != d.checksum:
                problems.append(f"files/{d.file_path}: SHA-256 does not match the metadata")
            if r.observed_size != d.size:
                problems.append(
                    f"files/{d.file_path}: {r.observed_size} bytes, metadata says {d.size}"
                )
            if not format_matches(d.file_type, FileFormat(r.detected_format)):
                problems.append(
                    f"files/{d.file_path}: declared {d.file_type} but the content is "
                    f"{r.detected_format}"
                )
        self.store.record_files(sub.submission_id, list(run.results.values()))
        if problems:
            raise IntakeRefused(
                ErrorReason.validation_error, "files do not match metadata.json", details=problems
            )
        qc = basic_qc(run.declared, run.results)
        self.store.record_qc(
            sub.submission_id,
            qc.passed,
            {"basic": {"passed": qc.passed, "failures": qc.failures, **qc.metrics}},
        )
        self._enter(sub.submission_id, State.validated, "" if qc.passed else "basic QC failed")

    def _reload(self, sub: Submission) -> _Run:
        """Rebuild the run after a restart at or after ``validated`` (no decryption again)."""
        staged = self.inbox.stage(sub.submission_id)
        if not staged.metadata_path.is_file():
            raise IntakeRefused(
                ErrorReason.incomplete_submission, "metadata/metadata.json vanished from the inbox"
            )
        raw = staged.metadata_path.read_bytes()
        current = self.store.get(sub.submission_id)
        assert current is not None
        if hashlib.sha256(raw).hexdigest() != current.metadata_sha256:
            raise IntakeRefused(
                ErrorReason.validation_error, "metadata.json changed after it was validated"
            )
        validated = validate_metadata(raw, strict_warnings=())
        run = _Run(staged, validated, declared_files(validated.model))
        run.results = {f.file_path: f for f in current.files}
        return run

    def _type(self, run: _Run) -> str:
        return str(run.metadata.model.submission.submission_type)

    def _archive(self, sub: Submission, run: _Run) -> None:
        sid = sub.submission_id
        self._enter(sid, State.archiving)
        current = self.store.get(sid)
        assert current is not None
        pseudonym = self.store.pseudonym(sid)
        if pseudonym is None:
            if current.tan_exchange_started:
                # The trust center may have answered before the crash; asking again would be
                # refused as a duplicate. Refuse cleanly and let an operator reconcile.
                raise IntakeRefused(
                    ErrorReason.interrupted,
                    "the intake stopped during the trust center's tanG exchange",
                )
            self.store.mark_tan_exchange_started(sid)
            try:
                pseudonym = self.tans.exchange(run.metadata.model.submission.tan_g)
            except DuplicateTan:
                raise IntakeRefused(
                    ErrorReason.duplicate_tan, "the trust center refused the tanG as a duplicate"
                ) from None
            except TanRefused as exc:
                raise IntakeRefused(
                    ErrorReason.validation_error,
                    f"the trust center refused the tanG: {exc.message}",
                ) from None
            self.store.record_pseudonym(sid, pseudonym)
            self._audit("grz.tan.exchanged", {"submission": sid})
        # Leftovers of an interrupted attempt go first, so registration is all-or-nothing.
        self.catalogue.remove_tagged(_tag(sid), pseudonym)
        if not run.plaintexts and any(d.file_type in CATALOGUED for d in run.declared):
            # Resumed after a restart: the plaintext was dropped, decrypt the catalogued files.
            run = self._decrypt_catalogued(sid, run)
        results = dict(run.results)
        for d in run.declared:
            kind = CATALOGUED.get(d.file_type)
            if kind is None or d.file_path not in run.plaintexts:
                continue
            self.progress.step(sid, State.archiving, d.file_path)
            try:
                cid = self._register(d, kind, run, pseudonym, sid)
            except GenomseqError as exc:
                if exc.status >= 500:
                    raise
                # The catalogue refuses the file as it is (e.g. unsorted reads, no index
                # possible): a refusal of the submission, not a state to retry forever.
                raise IntakeRefused(
                    ErrorReason.validation_error,
                    f"files/{d.file_path}: the catalogue refused it: {exc.message}",
                ) from None
            old = results[d.file_path]
            results[d.file_path] = dataclasses.replace(old, catalogue_id=cid)
        self.archive.put_metadata(sid, redacted(run.metadata.model))
        self.store.record_files(sid, list(results.values()))
        run.results = results
        self._drop_plaintexts(run)
        self._enter(sid, State.archived)

    def _register(self, d: DeclaredFile, kind: str, run: _Run, pseudonym: str, sid: str) -> str:
        return self.catalogue.register(
            CatalogueEntry(
                kind=kind,
                path=run.plaintexts[d.file_path],
                dataset_pseudonym=pseudonym,
                donor_pseudonym=_donor_label(d),
                reference_genome=d.reference_genome,
                sha256=d.checksum,
                tag=_tag(sid),
            )
        )

    def _decrypt_catalogued(self, sid: str, run: _Run) -> _Run:
        workdir = self._workdir(sid)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        for d in run.declared:
            if d.file_type not in CATALOGUED or d.file_path in run.plaintexts:
                continue
            try:
                out = self.processor.process(
                    run.staged.encrypted(d.file_path), d.file_type, workdir
                )
            except DecryptionFailed as exc:
                raise IntakeRefused(ErrorReason.decryption_error, exc.message) from None
            if out.sha256 != d.checksum:
                raise IntakeRefused(
                    ErrorReason.validation_error, f"files/{d.file_path} changed after validation"
                )
            if out.plaintext is not None:
                run.plaintexts[d.file_path] = out.plaintext
        return run

    def _report(self, sub: Submission, run: _Run) -> None:
        sid = sub.submission_id
        self._enter(sid, State.reporting)
        current = self.store.get(sid)
        assert current is not None
        report = build_pruefbericht(run.metadata.model, quality_passed=bool(current.qc_passed))
        self.reports.submit(
            pruefbericht_json(report), participant=self.config.genomic_data_center_id
        )
        self._enter(sid, State.reported)

    def _detailed_qc(self, sub: Submission, run: _Run) -> None:
        sid = sub.submission_id
        self._enter(sid, State.qc)
        current = self.store.get(sid)
        assert current is not None
        outcome = detailed_qc(run.declared, run.results)
        report = dict(current.qc_report)
        report["detailed"] = {
            "passed": outcome.passed,
            "failures": outcome.failures,
            "notes": outcome.notes,
            **outcome.metrics,
        }
        passed = bool(current.qc_passed) and outcome.passed
        if current.qc_passed and not outcome.passed:
            # The first Prüfbericht said passed; BfArM gets the corrected result.
            corrected = build_pruefbericht(run.metadata.model, quality_passed=False)
            self.reports.submit(
                pruefbericht_json(corrected), participant=self.config.genomic_data_center_id
            )
        self.store.record_qc(sid, passed, report)

    def _finish(self, submission_id: str, note: str) -> Submission:
        self.store.transition(submission_id, State.finished, note)
        self.progress.step(submission_id, State.finished, note)
        self.inbox.release(submission_id)
        shutil.rmtree(self._workdir(submission_id), ignore_errors=True)
        done = self.store.get(submission_id)
        assert done is not None
        self._audit(
            "grz.submission.finished",
            {"submission": submission_id, "type": done.submission_type, "qc": done.qc_passed},
        )
        return done

    def _refuse(self, submission_id: str, reason: ErrorReason, details: list[str]) -> Submission:
        # Nothing of a refused submission stays registered or archived.
        self.catalogue.remove_tagged(_tag(submission_id), self.store.pseudonym(submission_id))
        self.archive.remove(submission_id)
        shutil.rmtree(self._workdir(submission_id), ignore_errors=True)
        self.inbox.release(submission_id)
        failed = self.store.fail(submission_id, reason, details)
        self.progress.step(submission_id, State.error, str(reason))
        self._audit("grz.submission.refused", {"submission": submission_id, "reason": str(reason)})
        return failed

    def _audit(self, event: str, details: dict[str, object]) -> None:
        if self.audit is not None:
            self.audit(event, details)

    def _drop_plaintexts(self, run: _Run) -> None:
        for path in run.plaintexts.values():
            for p in path.parent.glob(path.name + "*"):
                p.unlink(missing_ok=True)
        run.plaintexts.clear()


def _tag(submission_id: str) -> str:
    return "grz:" + submission_id


def _donor_label(d: DeclaredFile) -> str:
    # The archive normalises the index donor's pseudonym to "index"; relatives keep their
    # submitter-assigned position so no hospital-side identifier reaches the catalogue.
    return "index" if d.is_index_donor else f"donor{d.donor_index}"
