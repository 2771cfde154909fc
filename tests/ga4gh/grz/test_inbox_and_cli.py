"""S3 inbox (boto3 against moto's S3), keygen, `genomseq grz intake` and `status`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from ga4gh.grz.core.states import State
from ga4gh.grz.storage.crypt4gh_files import generate_keypair, load_private_key
from ga4gh.grz.storage.inbox import S3Inbox
from platform_provider.service import PlatformService
from tests.ga4gh.grz.builders import Keys, build_submission, make_keys


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


def test_keypair_secret_is_0600_and_loads(tmp_path: Path) -> None:
    pub = generate_keypair(tmp_path / "k" / "grz.sec", tmp_path / "k" / "grz.pub")
    mode = stat.S_IMODE((tmp_path / "k" / "grz.sec").stat().st_mode)
    assert mode == 0o600
    assert len(load_private_key(tmp_path / "k" / "grz.sec")) == 32 and len(pub) == 32
    with pytest.raises(FileExistsError):
        generate_keypair(tmp_path / "k" / "grz.sec", tmp_path / "k" / "grz.pub")


@mock_aws
def test_s3_inbox_lists_complete_uploads_and_stages_them(tmp_path: Path, keys: Keys) -> None:
    s3 = boto3.client("s3", region_name="eu-central-1")
    s3.create_bucket(
        Bucket="inbox", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    done = build_submission(tmp_path / "local", keys, seed=5)
    uploading = build_submission(tmp_path / "local", keys, seed=6, write_metadata=False)
    for sub in (done, uploading):
        for path in sub.root.rglob("*"):
            if path.is_file():
                key = f"{sub.submission_id}/{path.relative_to(sub.root)}"
                s3.upload_file(str(path), "inbox", key)
    inbox = S3Inbox(s3, "inbox", tmp_path / "staging")
    # grz-cli uploads metadata.json last: a prefix without it is still uploading.
    assert inbox.submission_ids() == [done.submission_id]
    staged = inbox.stage(done.submission_id)
    assert json.loads(staged.metadata_path.read_text()) == done.metadata
    for rel in done.plain:
        assert (
            staged.encrypted(rel).read_bytes()
            == (done.root / "files" / (rel + ".c4gh")).read_bytes()
        )
    inbox.release(done.submission_id)
    assert not (tmp_path / "staging" / done.submission_id).exists()


@pytest.fixture()
def cli_env(base_settings, app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Environment for `genomseq` pointing at the test databases and a fresh data dir."""
    data = tmp_path / "data"
    env = {
        "GENOMSEQ_DATA_DIR": str(data),
        "GENOMSEQ_DATABASE_URL": base_settings.database_url,
        "GENOMSEQ_TRUST_CENTER_DATABASE_URL": base_settings.trust_center.database_url,
        "GENOMSEQ_AUTHORIZATION": "off",
        "GENOMSEQ_GRZ_GENOMIC_DATA_CENTER_ID": "GRZM00123",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return data


def test_cli_keygen_intake_and_status(
    cli_env: Path, tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch, app
) -> None:
    from config.cli import cli
    from ga4gh.grz.ports import TanExchange
    from tests.ga4gh.grz.fakes import FakeTrustCenter

    runner = CliRunner()
    result = runner.invoke(cli, ["grz", "keygen"])
    assert result.exit_code == 0, result.output
    secret = cli_env / "grz" / "grz.sec"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert runner.invoke(cli, ["grz", "keygen"]).exit_code != 0  # never overwritten silently
    grz_keys = Keys(
        secret, _public(cli_env / "grz" / "grz.pub"), load_private_key(secret), keys.sender_secret
    )
    inbox = tmp_path / "inbox"
    good = build_submission(inbox, grz_keys, seed=7)
    bad = build_submission(inbox, grz_keys, seed=8)
    (bad.root / "files" / "donor_001" / "lab0.bam.c4gh").unlink()

    # Until the trust center is merged, the test provides its TanExchange on the context.
    import config.app as app_module

    real_create = app_module.create_app

    def create_with_trust_center(settings=None):  # type: ignore[no-untyped-def]
        app = real_create(settings)
        app.extensions["genomseq"].provide(TanExchange, FakeTrustCenter())
        return app

    monkeypatch.setattr(app_module, "create_app", create_with_trust_center)
    # Not yet an approved participant: the Prüfbericht is refused, the intake stops and says so.
    result = runner.invoke(cli, ["grz", "intake", str(inbox)])
    assert result.exit_code == 1
    assert "stopped at reporting" in result.output and "1 pending" in result.output
    app.extensions["genomseq"].get(PlatformService).register_participant(
        "GRZM00123", "genome-data-center", "GRZ", actor="admin", create_client=False
    )
    result = runner.invoke(cli, ["grz", "intake", str(inbox)])
    assert result.exit_code == 0, result.output
    assert f"{good.submission_id}: {State.reporting.value}" in result.output  # progress
    lines = result.output.splitlines()
    assert any(
        ln.startswith(good.submission_id) and "finished" in ln and "pass" in ln for ln in lines
    )
    assert any(ln.startswith(bad.submission_id) and "incomplete submission" in ln for ln in lines)
    assert "2 submission(s): 1 accepted, 1 refused, 0 pending" in result.output
    assert good.tan_g not in result.output

    result = runner.invoke(cli, ["grz", "status", good.submission_id])
    assert result.exit_code == 0 and "finished" in result.output and "QC" in result.output
    assert "quality check: passed" in result.output
    assert "file donor_001/lab0.bam (BAM) verified  5000 reads" in result.output
    result = runner.invoke(cli, ["grz", "status"])
    assert good.submission_id in result.output and bad.submission_id in result.output
    assert runner.invoke(cli, ["grz", "status", "123456789_2024-01-01_00000000"]).exit_code != 0


def _public(path: Path) -> bytes:
    import base64

    return base64.b64decode(path.read_text().splitlines()[1])
