"""Fixtures of the refget tests: FASTA files written in the test, a live server on loopback."""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pysam
import pytest
from flask import Flask
from werkzeug.serving import make_server

from config.context import AppContext
from ga4gh.refget.ports import SequenceRegistry

# The six collections of the Sequence Collections compliance runner (refget package,
# refgenie/refget test_fasta/, commit 9f2e35d), reproduced as test data under its licence:
#
#   BSD 2-Clause License. Copyright (c) 2024, Nathan Sheffield.
#   Redistribution and use in source and binary forms, with or without modification, are
#   permitted provided that the following conditions are met: 1. Redistributions of source
#   code must retain the above copyright notice, this list of conditions and the following
#   disclaimer. 2. Redistributions in binary form must reproduce the above copyright notice,
#   this list of conditions and the following disclaimer in the documentation and/or other
#   materials provided with the distribution.
#   THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY
#   EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
#   MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE
#   COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
#   EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
#   SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
#   HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR
#   TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
#   SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
SEQCOL_FASTAS = {
    "base.fa": ">chrX\nTTGGGGAA\n>chr1\nGGAA\n>chr2\nGCGC\n",
    "different_names.fa": ">X\nTTGGGGAA\n>1\nGGAA\n>2\nGCGC\n",
    "different_order.fa": ">chr1\nGGAA\n>chr2\nGCGC\n>chrX\nTTGGGGAA\n",
    "pair_swap.fa": ">chr2\nTTGGGGAA\n>chr1\nGGAA\n>chrX\nGCGC\n",
    "subset.fa": ">chrX\nTTGGGGAA\n>chr1\nGGAA\n",
    "swap_wo_coords.fa": ">chrX\nTTGGGGAA\n>chr2\nGGAA\n>chr1\nGCGC\n",
}


def random_bases(rng: random.Random, n: int) -> str:
    """n random upper-case bases."""
    return "".join(rng.choice("ACGT") for _ in range(n))


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    """Write and index a FASTA file."""
    with path.open("w") as fh:
        for name, seq in records.items():
            fh.write(f">{name} test sequence\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    pysam.faidx(str(path))
    return path


@pytest.fixture(scope="session")
def genome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Sequences of a small generated genome; chrM is circular, chr2 partly soft-masked."""
    rng = random.Random(20261124)
    chr2 = random_bases(rng, 5000)
    return {
        "chr1": random_bases(rng, 150_000),
        # Soft-masked (lower-case) bases are served and digested in upper case.
        "chr2": chr2[:1000] + chr2[1000:2000].lower() + chr2[2000:],
        "chrM": random_bases(rng, 1659),
    }


@pytest.fixture(scope="session")
def genome_fasta(genome: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated genome as an indexed FASTA file."""
    return write_fasta(tmp_path_factory.mktemp("genome") / "genome.fa", genome)


@pytest.fixture(scope="session")
def compliance_fastas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three sequences the refget compliance suite queries (shipped in its package)."""
    src = resources.files("compliance_suite") / "sequences"
    out = tmp_path_factory.mktemp("refget_compliance")
    paths = {}
    for name in ("I", "VI", "NC"):
        target = out / f"{name}.fa"
        with resources.as_file(src / f"{name}.faa") as f:
            shutil.copyfile(f, target)
        paths[name] = target
    return paths


@pytest.fixture(scope="session")
def seqcol_fastas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The six tiny FASTA files of the seqcol compliance runner, written and indexed here."""
    out = tmp_path_factory.mktemp("seqcol")
    paths = {}
    for name, text in SEQCOL_FASTAS.items():
        (out / name).write_text(text)
        pysam.faidx(str(out / name))
        paths[name] = out / name
    return paths


@pytest.fixture()
def registry(ctx: AppContext) -> SequenceRegistry:
    """The SequenceRegistry the wiring provides."""
    found = ctx.find(SequenceRegistry)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def live_server(session_app: Flask) -> Iterator[str]:
    """Base URL of the test app served on a loopback port (a real HTTP server)."""
    server = make_server("127.0.0.1", 0, session_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
