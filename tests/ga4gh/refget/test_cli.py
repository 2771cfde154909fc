"""``genomseq refget load`` and ``list``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from config.cli import cli
from config.settings import Settings
from tests.ga4gh.refget.conftest import write_fasta


@pytest.fixture()
def env(app: Flask, base_settings: Settings) -> dict[str, str]:
    return {
        "GENOMSEQ_DATABASE_URL": base_settings.database_url,
        "GENOMSEQ_DATA_DIR": str(base_settings.data_dir),
        "GENOMSEQ_TRUST_CENTER_DATABASE_URL": base_settings.trust_center.database_url,
    }


def test_load_and_list(env: dict[str, str], tmp_path: Path, seqcol_fastas: dict[str, Path]) -> None:
    runner = CliRunner()
    mito = write_fasta(tmp_path / "mt.fa", {"chrM": "ACGT" * 100})
    result = runner.invoke(
        cli,
        ["refget", "load", str(seqcol_fastas["base.fa"]), str(mito), "--circular", "chrM"],
        env=env,
    )
    assert result.exit_code == 1  # chrM is not in base.fa: that file is refused
    assert "circular sequence(s) not in base.fa: chrM" in result.output
    assert "loaded 1 of 2 FASTA file(s): 1 sequences, 400 bp" in result.output

    result = runner.invoke(cli, ["refget", "load", str(seqcol_fastas["base.fa"])], env=env)
    assert result.exit_code == 0, result.output
    assert "XZlrcEGi6mlopZ2uD8ObHkQB1d0oDwKk  3 sequences" in result.output

    listed = runner.invoke(cli, ["refget", "list"], env=env)
    assert listed.exit_code == 0
    assert "XZlrcEGi6mlopZ2uD8ObHkQB1d0oDwKk" in listed.output
    assert str(mito.resolve()) in listed.output


def test_list_empty(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["refget", "list"], env=env)
    assert result.exit_code == 0
    assert "no sequence collections registered" in result.output


def test_demo_seed_serves_its_examples(ctx, client) -> None:  # type: ignore[no-untyped-def]
    from config.wiring.refget import seed_demo

    examples = seed_demo(ctx)
    assert len(examples) == 3
    for example in examples:
        url = example.split("'")[1].replace("{base}", "")
        resp = client.get(url)
        assert resp.status_code == 200, url
    wrapped = client.get(examples[0].split("'")[1].replace("{base}", ""))
    assert len(wrapped.data) == 1659 - 1650 + 10
