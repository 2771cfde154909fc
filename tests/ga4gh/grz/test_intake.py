"""The intake pipeline end to end on real encrypted submissions (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.context import AppContext
from ga4gh.grz.core.intake import IntakeConfig, IntakeService
from ga4gh.grz.core.metadata import REDACTED_TAN
from ga4gh.grz.core.states import ErrorReason, State
from ga4gh.grz.storage.crypt4gh_files import Crypt4GHFileProcessor, generate_keypair
from ga4gh.grz.storage.inbox import FolderArchive, FolderInbox
from ga4gh.grz.storage.sql import SqlSubmissionStore
from tests.ga4gh.grz.builders import (
    GRZ_ID,
    Keys,
    build_submission,
    encrypt,
    make_keys,
    write_meta,
)
from tests.ga4gh.grz.fakes import Crash, FakeCatalogue, FakePlatform, FakeTrustCenter


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@dataclass
class Rig:
    service: IntakeService
    store: SqlSubmissionStore
    catalogue: FakeCatalogue
    trust_center: FakeTrustCenter
    platform: FakePlatform
    archive: FolderArchive
    inbox: Path
    work: Path

    def fresh_service(self, keys: Keys) -> IntakeService:
        """A new service on the same state, as after a process restart."""
        return make_service(self, keys)


def make_service(rig: Rig, keys: Keys) -> IntakeService:
    return IntakeService(
        store=rig.store,
        inbox=FolderInbox(rig.inbox),
        processor=Crypt4GHFileProcessor(keys.grz_secret),
        catalogue=rig.catalogue,
        tans=rig.trust_center,
        reports=rig.platform,
        archive=rig.archive,
        config=IntakeConfig(genomic_data_center_id=GRZ_ID, tan_key=b"k" * 32, work_dir=rig.work),
    )


@pytest.fixture()
def rig(ctx: AppContext, tmp_path: Path, keys: Keys) -> Rig:
    r = Rig(
        service=None,  # type: ignore[arg-type]
        store=SqlSubmissionStore(ctx.engine),
        catalogue=FakeCatalogue(),
        trust_center=FakeTrustCenter(),
        platform=FakePlatform(),
        archive=FolderArchive(tmp_path / "archive"),
        inbox=tmp_path / "inbox",
        work=tmp_path / "work",
    )
    r.inbox.mkdir()
    r.service = make_service(r, keys)
    return r


def _states(sub) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.state.value for t in sub.history]


def test_initial_submission_is_accepted_catalogued_redacted_and_reported(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    done = rig.service.run(s.submission_id)
    assert done.state is State.finished, done.error_detail
    assert _states(done) == [
        "uploaded",
        "downloading",
        "decrypting",
        "validating",
        "validated",
        "archiving",
        "archived",
        "reporting",
        "reported",
        "QC",
        "finished",
    ]
    assert done.qc_passed is True, done.qc_report
    # Aligned reads and variant calls are in the catalogue under the dataset pseudonym.
    entries = rig.catalogue.tagged("grz:" + s.submission_id)
    assert sorted(e.kind for e in entries) == ["aligned_reads", "variant_calls"]
    pseudonym = rig.trust_center.seen[s.tan_g]
    assert {e.dataset_pseudonym for e in entries} == {pseudonym}
    assert {e.donor_pseudonym for e in entries} == {"index"}
    # The archived metadata is redacted the way BfArM's models redact it.
    archived = rig.archive.get_metadata(s.submission_id)
    assert archived is not None
    assert archived["submission"]["tanG"] == REDACTED_TAN  # type: ignore[index]
    assert archived["submission"]["localCaseId"] == "REDACTED_LOCAL_CASE_ID"  # type: ignore[index]
    assert s.tan_g not in json.dumps(archived)
    # The Prüfbericht reached the platform provider, sent by this GRZ.
    assert len(rig.platform.reports) == 1
    participant, report = rig.platform.reports[0]
    assert participant == GRZ_ID
    case = report["SubmittedCase"]  # type: ignore[index]
    assert case["tan"] == s.tan_g and case["dataQualityCheckPassed"] is True  # type: ignore[index]
    assert case["libraryType"] == "wgs_lr" and case["dataCategory"] == "genomic"  # type: ignore[index]
    # Observed metrics were recorded; no plaintext is left behind.
    bam = next(f for f in done.files if f.file_type == "bam")
    assert bam.detected_format == "BAM" and bam.observed_checksum == bam.declared_checksum
    assert bam.mean_coverage is not None and bam.mean_coverage > 30
    assert not list(rig.work.rglob("*.bam")) and not list(rig.work.rglob("*.vcf*"))
    # Nothing the GRZ stores contains the tanG.
    assert s.tan_g not in json.dumps(done.qc_report)


def test_fastq_submission_counts_reads(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys, profile="sr", fastq_reads=(150, 150))
    done = rig.service.run(s.submission_id)
    assert done.state is State.finished, done.error_detail
    counts = {f.file_path: f.read_count for f in done.files if f.file_type == "fastq"}
    assert set(counts.values()) == {150}
    assert len(rig.catalogue.tagged("grz:" + s.submission_id)) == 2  # the two VCFs
    assert done.qc_report["basic"]["reads"] == 600  # type: ignore[index]


def test_unequal_r1_r2_fails_basic_qc_and_is_reported_as_failed(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys, profile="sr", fastq_reads=(150, 149))
    done = rig.service.run(s.submission_id)
    assert done.state is State.finished
    assert done.qc_passed is False
    assert any("R1 has 150 reads but R2 has 149" in f for f in done.qc_report["basic"]["failures"])  # type: ignore[index]
    assert rig.platform.reports[0][1]["SubmittedCase"]["dataQualityCheckPassed"] is False  # type: ignore[index]


def test_low_coverage_fails_detailed_qc_and_a_corrected_pruefbericht_is_sent(rig: Rig, keys: Keys):
    # 20 reads x 100 bp over 5 kb: depth 0.4, far below BfArM's minimum for wgs_lr.
    s = build_submission(rig.inbox, keys, reads=20)
    done = rig.service.run(s.submission_id)
    assert done.state is State.finished
    assert done.qc_passed is False
    assert done.qc_report["detailed"]["passed"] is False  # type: ignore[index]
    flags = [r["SubmittedCase"]["dataQualityCheckPassed"] for _, r in rig.platform.reports]  # type: ignore[index]
    assert flags == [True, False]


def test_test_submission_is_validated_and_discarded(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys, submission_type="test")
    done = rig.service.run(s.submission_id)
    assert done.state is State.finished
    assert "archiving" not in _states(done) and "QC" not in _states(done)
    assert rig.catalogue.entries == {}
    assert rig.trust_center.seen == {}
    assert rig.archive.get_metadata(s.submission_id) is None
    assert rig.platform.reports[0][1]["SubmittedCase"]["submissionType"] == "test"  # type: ignore[index]
    assert done.history[-1].note == "test submission: reported and discarded"
    # Its tanG is free again: the real submission with the same tanG, a day later, is accepted.
    meta = json.loads((s.root / "metadata" / "metadata.json").read_text())
    meta["submission"]["submissionType"] = "initial"
    meta["submission"]["submissionDate"] = "2024-12-11"
    real = rig.inbox / s.submission_id.replace("2024-12-10", "2024-12-11")
    shutil.copytree(s.root / "files", real / "files")
    write_meta(real, meta)
    assert rig.service.run(real.name).state is State.finished


def test_audit_events_carry_no_identifiers(rig: Rig, keys: Keys):
    events: list[tuple[str, dict[str, object]]] = []
    rig.service.audit = lambda event, details: events.append((event, details))
    ok = build_submission(rig.inbox, keys, seed=11)
    bad = build_submission(rig.inbox, keys, seed=12)
    (bad.root / "metadata" / "metadata.json").write_text("{}")
    rig.service.run(ok.submission_id)
    rig.service.run(bad.submission_id)
    assert [e for e, _ in events] == [
        "grz.tan.exchanged",
        "grz.submission.finished",
        "grz.submission.refused",
    ]
    assert events[2][1] == {"submission": bad.submission_id, "reason": "validation error"}
    text = json.dumps(events)
    assert ok.tan_g not in text and rig.trust_center.seen[ok.tan_g] not in text


@pytest.mark.parametrize("submission_type", ["followup", "addition", "correction"])
def test_other_submission_types_are_archived(rig: Rig, keys: Keys, submission_type: str):
    s = build_submission(rig.inbox, keys, submission_type=submission_type)
    done = rig.service.run(s.submission_id)
    assert done.state is State.finished
    assert done.submission_type == submission_type
    assert len(rig.catalogue.tagged("grz:" + s.submission_id)) == 2


def _assert_refused(rig: Rig, sid: str, reason: ErrorReason) -> None:
    sub = rig.store.get(sid)
    assert sub is not None
    assert sub.state is State.error, sub.state
    assert sub.error_reason is reason, (sub.error_reason, sub.error_detail)
    assert rig.catalogue.tagged("grz:" + sid) == []
    assert rig.archive.get_metadata(sid) is None
    assert not (rig.work / sid).exists()


def test_duplicate_tan_is_refused(rig: Rig, keys: Keys):
    first = build_submission(rig.inbox, keys, seed=1)
    assert rig.service.run(first.submission_id).state is State.finished
    # Same tanG, another day: another inbox prefix, same tanG.
    meta = json.loads((first.root / "metadata" / "metadata.json").read_text())
    meta["submission"]["submissionDate"] = "2024-12-11"
    second = rig.inbox / first.submission_id.replace("2024-12-10", "2024-12-11")
    shutil.copytree(first.root / "files", second / "files")
    write_meta(second, meta)
    done = rig.service.run(second.name)
    assert done.error_reason is ErrorReason.duplicate_tan
    _assert_refused(rig, second.name, ErrorReason.duplicate_tan)
    # The first submission keeps its catalogue entries.
    assert len(rig.catalogue.tagged("grz:" + first.submission_id)) == 2


def test_duplicate_refused_by_the_trust_center(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    rig.trust_center.seen[s.tan_g] = "GDPexisting"
    rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.duplicate_tan)


def test_missing_file_is_an_incomplete_submission(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    (s.root / "files" / "donor_001" / "lab0.vcf.gz.c4gh").unlink()
    done = rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.incomplete_submission)
    assert "missing: files/donor_001/lab0.vcf.gz.c4gh" in done.error_detail


def test_missing_metadata_is_an_incomplete_submission(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys, write_metadata=False)
    rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.incomplete_submission)


def test_file_for_another_key_is_a_decryption_error(rig: Rig, keys: Keys, tmp_path: Path):
    s = build_submission(rig.inbox, keys)
    other_pub = generate_keypair(tmp_path / "o.sec", tmp_path / "o.pub")
    encrypt(
        s.plain["donor_001/lab0.bam"],
        s.root / "files" / "donor_001" / "lab0.bam.c4gh",
        keys,
        recipient=other_pub,
    )
    done = rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.decryption_error)
    assert "not encrypted to this genome data center's key" in done.error_detail[0]


def test_corrupt_segment_is_a_decryption_error(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    path = s.root / "files" / "donor_001" / "lab0.bam.c4gh"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.decryption_error)


def test_checksum_size_and_format_mismatches_are_validation_errors(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    meta = s.metadata
    files = meta["donors"][0]["labData"][0]["sequenceData"]["files"]
    files[0]["fileChecksum"] = "0" * 63 + "1"
    files[0]["fileSizeInBytes"] += 1
    # Declared VCF but the content is the BAM.
    encrypt(
        s.plain["donor_001/lab0.bam"], s.root / "files" / "donor_001" / "lab0.vcf.gz.c4gh", keys
    )
    files[1]["fileChecksum"] = files[0]["fileChecksum"] = (
        __import__("hashlib").sha256(s.plain["donor_001/lab0.bam"]).hexdigest()
    )
    files[0]["fileChecksum"] = "0" * 63 + "1"
    files[1]["fileSizeInBytes"] = len(s.plain["donor_001/lab0.bam"])
    write_meta(s.root, meta)
    done = rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.validation_error)
    text = "\n".join(done.error_detail)
    assert "lab0.bam: SHA-256 does not match the metadata" in text
    assert "lab0.bam: " in text and "bytes, metadata says" in text
    assert "lab0.vcf.gz: declared vcf but the content is BAM" in text


def test_invalid_metadata_is_refused_with_the_models_reasons(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    s.metadata["submission"]["coverageType"] = "XYZ"
    write_meta(s.root, s.metadata)
    done = rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.validation_error)
    assert any(d.startswith("submission.coverageType: Input should be") for d in done.error_detail)


def test_prefix_must_match_the_metadata(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    moved = rig.inbox / (s.submission_id[:-8] + "00000000")
    s.root.rename(moved)
    done = rig.service.run(moved.name)
    assert done.error_reason is ErrorReason.validation_error
    assert "inbox prefix does not match" in " ".join(done.error_detail)


def test_another_grz_is_refused(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    s.metadata["submission"]["genomicDataCenterId"] = "GRZX00999"
    write_meta(s.root, s.metadata)
    done = rig.service.run(s.submission_id)
    assert done.error_reason is ErrorReason.validation_error


def test_crash_while_decrypting_then_rerun_finishes(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    processor = rig.service.processor
    real = processor.process

    def dying(*a, **k):  # type: ignore[no-untyped-def]
        real(*a, **k)
        raise Crash()

    processor.process = dying  # type: ignore[method-assign]
    with pytest.raises(Crash):
        rig.service.run(s.submission_id)
    assert rig.store.get(s.submission_id).state is State.decrypting  # type: ignore[union-attr]
    done = rig.fresh_service(keys).run(s.submission_id)
    assert done.state is State.finished
    assert len(rig.catalogue.tagged("grz:" + s.submission_id)) == 2


def test_crash_while_archiving_leaves_nothing_half_registered(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    rig.catalogue.crash_on_call = 2  # the BAM is registered, then the process dies
    with pytest.raises(Crash):
        rig.service.run(s.submission_id)
    assert rig.store.get(s.submission_id).state is State.archiving  # type: ignore[union-attr]
    assert len(rig.catalogue.tagged("grz:" + s.submission_id)) == 1
    assert not list(rig.work.rglob("*.bam"))  # plaintext dropped even on the way down
    rig.catalogue.crash_on_call = None
    done = rig.fresh_service(keys).run(s.submission_id)
    assert done.state is State.finished
    entries = rig.catalogue.tagged("grz:" + s.submission_id)
    assert sorted(e.kind for e in entries) == ["aligned_reads", "variant_calls"]
    # The tanG was exchanged once only.
    assert list(rig.trust_center.seen) == [s.tan_g]


def test_crash_during_tan_exchange_fails_cleanly(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    rig.trust_center.crash_after_exchange = True
    with pytest.raises(Crash):
        rig.service.run(s.submission_id)
    rig.trust_center.crash_after_exchange = False
    done = rig.fresh_service(keys).run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.interrupted)
    assert done.state is State.error


def test_finished_and_refused_submissions_are_not_processed_again(rig: Rig, keys: Keys):
    s = build_submission(rig.inbox, keys)
    rig.service.run(s.submission_id)
    again = rig.service.run(s.submission_id)
    assert again.state is State.finished
    assert len(rig.platform.reports) == 1


def test_run_all_processes_every_inbox_submission(rig: Rig, keys: Keys):
    a = build_submission(rig.inbox, keys, seed=3)
    b = build_submission(rig.inbox, keys, seed=4, submission_type="test")
    results = {r.submission_id: r.state for r in rig.service.run_all()}
    assert results == {a.submission_id: State.finished, b.submission_id: State.finished}


def test_unsorted_bam_is_refused(rig: Rig, keys: Keys, tmp_path: Path):
    import hashlib

    import pysam

    s = build_submission(rig.inbox, keys)
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "chr1", "LN": 5000}]}
    path = tmp_path / "unsorted.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, start in enumerate([3000, 100, 2000]):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.query_sequence, a.flag = f"r{i}", "A" * 100, 0
            a.reference_id, a.reference_start, a.mapping_quality = 0, start, 60
            a.cigartuples = [(0, 100)]
            a.query_qualities = pysam.qualitystring_to_array("I" * 100)
            out.write(a)
    data = path.read_bytes()
    encrypt(data, s.root / "files" / "donor_001" / "lab0.bam.c4gh", keys)
    f = s.metadata["donors"][0]["labData"][0]["sequenceData"]["files"][0]
    f["fileChecksum"], f["fileSizeInBytes"] = hashlib.sha256(data).hexdigest(), len(data)
    write_meta(s.root, s.metadata)
    done = rig.service.run(s.submission_id)
    _assert_refused(rig, s.submission_id, ErrorReason.validation_error)
    assert "cannot be indexed" in done.error_detail[0]


def test_refusal_reasons_never_contain_the_tan(rig: Rig, keys: Keys):
    # Up to schema v1.1.7 the index donor's pseudonym was the tanG; the models quote it.
    s = build_submission(rig.inbox, keys)
    meta = s.metadata
    meta["donors"][0]["donorPseudonym"] = s.tan_g
    meta["donors"][0]["labData"][0]["sequenceData"]["files"] = [
        f
        for f in meta["donors"][0]["labData"][0]["sequenceData"]["files"]
        if f["fileType"] != "vcf"
    ]
    write_meta(s.root, meta)
    done = rig.service.run(s.submission_id)
    assert done.error_reason is ErrorReason.validation_error
    text = json.dumps(done.error_detail)
    assert "VCF file missing" in text and "REDACTED_TAN_G" in text
    assert s.tan_g not in text
