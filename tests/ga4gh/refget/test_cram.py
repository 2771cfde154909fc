"""htslib uses this server as its CRAM reference source (REF_PATH=.../sequence/%s).

A CRAM is written against a copy of the generated reference that is deleted afterwards, so the
only way ``samtools view`` can decode it is by fetching each reference by its MD5 (the @SQ M5
tag) from the live refget server.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pysam
import pytest

from ga4gh.refget.ports import SequenceRegistry
from tests.ga4gh.refget.conftest import write_fasta

pytestmark = pytest.mark.slow

SAMTOOLS = shutil.which("samtools")


def _reads(genome: dict[str, str], bam: Path) -> None:
    rng = random.Random(7)
    names = list(genome)
    header = {
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": n, "LN": len(genome[n])} for n in names],
    }
    reads = []
    for i in range(300):
        tid = rng.randrange(len(names))
        seq = genome[names[tid]].upper()
        pos = rng.randrange(0, len(seq) - 100)
        bases = list(seq[pos : pos + 100])
        # A mismatch, so the CRAM stores a difference against the reference.
        j = rng.randrange(100)
        bases[j] = "A" if bases[j] != "A" else "C"
        reads.append((tid, pos, "".join(bases), f"r{i:04d}"))
    reads.sort()
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for tid, pos, bases, name in reads:
            a = pysam.AlignedSegment(out.header)
            a.query_name = name
            a.reference_id = tid
            a.reference_start = pos
            a.mapping_quality = 60
            a.cigarstring = "100M"
            a.query_sequence = bases
            a.query_qualities = pysam.qualitystring_to_array("I" * 100)
            out.write(a)
    pysam.index(str(bam))


def _view(cram: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert SAMTOOLS
    return subprocess.run(
        [SAMTOOLS, "view", str(cram)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(SAMTOOLS is None, reason="samtools not installed (apt-get install samtools)")
def test_samtools_decodes_cram_with_refget_as_reference_source(
    registry: SequenceRegistry,
    genome: dict[str, str],
    genome_fasta: Path,
    live_server: str,
    tmp_path: Path,
) -> None:
    bam = tmp_path / "reads.bam"
    _reads(genome, bam)
    ref_copy = write_fasta(tmp_path / "ref_copy.fa", genome)
    cram = tmp_path / "reads.cram"
    pysam.view("-C", "-T", str(ref_copy), "-o", str(cram), str(bam), catch_stdout=False)
    header = pysam.AlignmentFile(str(cram), "rc", reference_filename=str(ref_copy)).header
    assert all("M5" in sq for sq in header.to_dict()["SQ"])
    ref_copy.unlink()
    Path(str(ref_copy) + ".fai").unlink()

    env = {
        **os.environ,
        "REF_PATH": live_server + "/ga4gh/refget/sequence/%s",
        # A fresh cache, so nothing fetched earlier (or by another test) can help.
        "REF_CACHE": str(tmp_path / "ref_cache" / "%2s/%2s/%s"),
    }
    env.pop("REF_CACHE_DIR", None)

    # Not registered yet: htslib cannot find the reference and decoding fails.
    refused = _view(cram, env)
    assert refused.returncode != 0

    registry.add_fasta(genome_fasta)
    decoded = _view(cram, {**env, "REF_CACHE": str(tmp_path / "ref_cache2" / "%2s/%2s/%s")})
    assert decoded.returncode == 0, decoded.stderr
    expected = subprocess.run(
        [SAMTOOLS, "view", str(bam)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    got = [line.split("\t")[:10] for line in decoded.stdout.splitlines()]
    want = [line.split("\t")[:10] for line in expected.splitlines()]
    assert len(got) == 300
    assert got == want
