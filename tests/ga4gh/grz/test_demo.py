"""`serve --demo` seeding of the GRZ: a real submission through the real intake."""

from __future__ import annotations

import pysam
from click.testing import CliRunner
from flask.testing import FlaskClient

from config.context import AppContext
from config.wiring import components
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.grz.core.states import State
from ga4gh.grz.demo import demo_dir, seed_demo, seed_submission
from ga4gh.grz.storage.sql import SqlSubmissionStore


def test_seed_demo_takes_in_a_submission_once_and_serves_it(
    ctx: AppContext, client: FlaskClient
) -> None:
    first = seed_submission(ctx)
    assert first is not None and first.created
    sub = first.submission
    assert sub.state is State.finished, (sub.error_reason, sub.error_detail)
    assert sub.qc_passed is True
    assert {f.file_path for f in sub.files} == {
        "donor_001/tumor.bam",
        "donor_001/tumor_var.vcf.gz",
    }
    assert all(f.observed_checksum == f.declared_checksum for f in sub.files)
    bam = next(f for f in sub.files if f.file_path.endswith(".bam"))
    assert bam.read_count == 12_000 and bam.mean_coverage is not None
    assert 110 < bam.mean_coverage < 130  # 12,000 reads x 100 bp over 10 kb
    # No plaintext stays behind: the pysam sources and the intake's work files are gone.
    assert not list((demo_dir(ctx) / "plain").iterdir())
    assert all(p.suffix == ".c4gh" for p in (demo_dir(ctx) / "inbox").rglob("files/**/*.*"))

    # The status API and the catalogue serve it.
    resp = client.get(f"/grz/submissions/{sub.submission_id}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["state"] == "finished" and body["qualityCheckPassed"] is True
    assert "tanG" not in resp.get_data(as_text=True)
    ids = first.catalogue_ids
    catalogue: GenomicCatalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    assert all(catalogue.get(i) is not None for i in ids.values())
    resp = client.get(
        f"/ga4gh/htsget/v1/reads/{ids['donor_001/tumor.bam']}?referenceName=chr1&start=0&end=5000"
    )
    assert resp.status_code == 200 and resp.get_json()["htsget"]["format"] == "BAM"
    resp = client.get(f"/ga4gh/drs/v1/objects/{ids['donor_001/tumor_var.vcf.gz']}")
    assert resp.status_code == 200

    # A second `serve --demo` (through the component's hook, as `serve` calls it) keeps what
    # is there: no second submission, same catalogue.
    hook = next(c for c in components() if c.name == "grz").seed_demo
    assert hook is not None
    examples = hook(ctx)
    assert examples[0].startswith(f"grz: demo submission {sub.submission_id} already seeded")
    assert any(f"/grz/submissions/{sub.submission_id}" in e for e in examples)
    assert any(ids["donor_001/tumor.bam"] in e and "{base}" in e for e in examples)
    assert [s.submission_id for s in SqlSubmissionStore(ctx.engine).recent()] == [sub.submission_id]
    assert sorted(o.id for o in catalogue.list()) == sorted(ids.values())


def test_seed_demo_seeds_again_when_the_database_forgot(ctx: AppContext) -> None:
    from tests.conftest import truncate_all

    first = seed_submission(ctx)
    assert first is not None
    truncate_all(ctx.engine)
    again = seed_submission(ctx)
    assert again is not None and again.created
    assert again.submission.state is State.finished
    assert again.submission.submission_id != first.submission.submission_id
    # The old upload was dropped from the demo inbox with the submission it belonged to.
    assert [p.name for p in (demo_dir(ctx) / "inbox").iterdir()] == [again.submission.submission_id]


def test_grz_status_cli_shows_the_demo_submission(ctx: AppContext, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from config.cli import cli

    seeded = seed_submission(ctx)
    assert seeded is not None
    s = ctx.settings
    for k, v in {
        "GENOMSEQ_DATA_DIR": str(s.data_dir),
        "GENOMSEQ_DATABASE_URL": s.database_url,
        "GENOMSEQ_TRUST_CENTER_DATABASE_URL": s.trust_center.database_url,
        "GENOMSEQ_AUTHORIZATION": "off",
    }.items():
        monkeypatch.setenv(k, v)
    sid = seeded.submission.submission_id
    result = CliRunner().invoke(cli, ["grz", "status", sid])
    assert result.exit_code == 0, result.output
    assert f"{sid}: finished" in result.output
    assert "quality check: passed" in result.output
    assert "file donor_001/tumor.bam (BAM) verified  12000 reads" in result.output


def test_demo_bam_is_a_sorted_indexable_bam(ctx: AppContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    from ga4gh.grz.demo import _write_bam

    path = tmp_path / "d.bam"
    _write_bam(path, random.Random(1))
    pysam.index(str(path))
    with pysam.AlignmentFile(str(path)) as af:
        assert af.mapped == 12_000


def test_seed_demo_without_an_in_process_trust_center_seeds_nothing(
    ctx: AppContext, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from trust_center.service import TrustCenterService

    find = ctx.find
    monkeypatch.setattr(ctx, "find", lambda t: None if t is TrustCenterService else find(t))
    assert seed_demo(ctx) == ["grz: no in-process trust center, so no demo submission was seeded"]
    assert SqlSubmissionStore(ctx.engine).recent() == []
