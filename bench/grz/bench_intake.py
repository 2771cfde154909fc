"""GRZ intake throughput: Crypt4GH decryption, SHA-256 and index build of BAM/CRAM, and
metadata.json validation time.

Input: the NA12878 slice in /work/shared/data/genomics (BAM; its c4gh copies encrypted by the
htsget-rs test key ``alice`` for ``bob``), scaled up by writing the slice's reads ``--copies``
times at shifted positions so the figures are not dominated by per-file overhead. The scaled
files are encrypted for a fresh GRZ key with the crypt4gh library, exactly as grz-cli does.

    PYTHONPATH=. python bench/grz/bench_intake.py --copies 40
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import statistics
import tempfile
import time
from pathlib import Path

import pysam
from crypt4gh import CIPHER_SEGMENT_SIZE, SEGMENT_SIZE, header, sodium
from crypt4gh import lib as c4gh_lib

from ga4gh.grz.core.metadata import validate_metadata
from ga4gh.grz.storage.crypt4gh_files import (
    Crypt4GHFileProcessor,
    build_index,
    generate_keypair,
    load_private_key,
    samtools,
)

DATA = Path("/work/shared/data/genomics")
MB = 1_000_000


def scaled_bam(source: Path, target: Path, copies: int) -> None:
    """The slice's mapped reads ``copies`` times, 200 kb apart, then its unmapped reads."""
    with pysam.AlignmentFile(str(source)) as src:
        mapped = [r for r in src.fetch(until_eof=True) if not r.is_unmapped]
        unmapped = [r for r in src.fetch(until_eof=True) if r.is_unmapped]
        with pysam.AlignmentFile(str(target), "wb", template=src) as out:
            for tid in sorted({r.reference_id for r in mapped}):
                reads = [r for r in mapped if r.reference_id == tid]
                for k in range(copies):
                    for r in reads:
                        start = r.reference_start
                        mate = r.next_reference_start
                        r.reference_start = start + k * 200_000
                        if r.next_reference_id == tid and mate >= 0:
                            r.next_reference_start = mate + k * 200_000
                        out.write(r)
                        r.reference_start = start
                        r.next_reference_start = mate
            for r in unmapped:
                out.write(r)


def encrypt(plain: Path, target: Path, sender: bytes, recipient: bytes) -> None:
    with open(plain, "rb") as i, open(target, "wb") as o:
        c4gh_lib.encrypt([(0, sender, recipient)], i, o)


def decrypt_only(encrypted: Path, secret: bytes) -> int:
    """Decryption alone (no hashing, no writing): the crypto's share."""
    with open(encrypted, "rb") as fh:
        keys, _ = header.deconstruct(fh, [(0, secret, None)])
        seg = bytearray(SEGMENT_SIZE)
        buf = bytearray(CIPHER_SEGMENT_SIZE)
        view = memoryview(buf)
        total = 0
        while n := fh.readinto(buf):
            total += sodium.chacha20poly1305_decrypt(seg, view[:n], keys[0])
    return total


def sha_only(plain: Path) -> None:
    h = hashlib.sha256()
    with open(plain, "rb") as fh:
        while chunk := fh.read(SEGMENT_SIZE):
            h.update(chunk)


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_file(label: str, plain: Path, encrypted: Path, secret: bytes, repeat: int) -> None:
    size = plain.stat().st_size
    sequential = Crypt4GHFileProcessor(secret, index_while_decrypting=False)
    overlapped = Crypt4GHFileProcessor(secret)
    t_dec = best(lambda: decrypt_only(encrypted, secret), repeat)
    t_sha = best(lambda: sha_only(plain), repeat)

    def stream_only() -> None:
        with tempfile.TemporaryDirectory() as work:
            sequential.process(encrypted, "bam", Path(work))

    def index_pysam() -> None:
        with tempfile.TemporaryDirectory() as work:
            target = Path(work) / ("x" + plain.suffix)
            target.symlink_to(plain)
            pysam.index(str(target), str(Path(work) / "x.idx"))

    def index_only() -> None:
        with tempfile.TemporaryDirectory() as work:
            target = Path(work) / ("x" + plain.suffix)
            target.symlink_to(plain)
            build_index(target)

    def intake(proc: Crypt4GHFileProcessor) -> None:
        # What the intake runs per aligned-reads file: the streaming pass, then the index
        # (unless built during the pass) and the coverage estimate from it.
        with tempfile.TemporaryDirectory() as work:
            out = proc.process(encrypted, "bam", Path(work))
            assert out.plaintext is not None
            proc.alignment_stats(out.plaintext)

    t_stream = best(stream_only, repeat)
    t_index = best(index_only, repeat)
    t_pysam = best(index_pysam, repeat)
    t_seq = best(lambda: intake(sequential), repeat)
    t_ovl = best(lambda: intake(overlapped), repeat)
    print(f"{label}: {size / MB:.1f} MB plaintext")
    print(f"  decrypt only                          {size / MB / t_dec:6.0f} MB/s")
    print(f"  SHA-256 only                          {size / MB / t_sha:6.0f} MB/s")
    print(f"  stream: decrypt+SHA+sniff+write  {size / MB / t_stream:6.0f} MB/s  {t_stream:.3f} s")
    builder = "samtools" if samtools() else "pysam"
    print(
        f"  index build, pysam                    {size / MB / t_pysam:6.0f} MB/s  {t_pysam:.3f} s"
    )
    print(
        f"  index build, intake ({builder:8}) {size / MB / t_index:9.0f} MB/s  {t_index:.3f} s"
    )
    print(f"  intake, index after the pass (default) {size / MB / t_seq:5.0f} MB/s  {t_seq:.3f} s")
    print(f"  intake, index while decrypting        {size / MB / t_ovl:6.0f} MB/s  {t_ovl:.3f} s")


def bench_metadata() -> None:
    import grz_pydantic_models_testing

    base = Path(str(importlib.resources.files(grz_pydantic_models_testing))) / "example_metadata"
    raws = [p.read_bytes() for p in sorted(base.rglob("*.json"))]
    for raw in raws:
        validate_metadata(raw)
    times = []
    for _ in range(20):
        for raw in raws:
            t = time.perf_counter()
            validate_metadata(raw)
            times.append(time.perf_counter() - t)
    print(
        f"metadata.json validation ({len(raws)} BfArM examples x 20): median "
        f"{statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bench_metadata()
    bob = load_private_key(DATA / "c4gh" / "keys" / "bob.sec")
    run_file(
        "NA12878 slice BAM (htsget-rs c4gh copy)",
        DATA / "bam" / "htsnexus_test_NA12878.bam",
        DATA / "c4gh" / "htsnexus_test_NA12878.bam.c4gh",
        bob,
        args.repeat,
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        grz_pub = generate_keypair(d / "grz.sec", d / "grz.pub")
        generate_keypair(d / "le.sec", d / "le.pub")
        grz_sec, le_sec = load_private_key(d / "grz.sec"), load_private_key(d / "le.sec")
        bam = d / "scaled.bam"
        scaled_bam(DATA / "bam" / "htsnexus_test_NA12878.bam", bam, args.copies)
        encrypt(bam, d / "scaled.bam.c4gh", le_sec, grz_pub)
        run_file(
            f"scaled BAM ({args.copies} copies)", bam, d / "scaled.bam.c4gh", grz_sec, args.repeat
        )
        cram = d / "scaled.cram"
        # No reference is available for GRCh37 here: embed the sequences (no_ref) instead.
        pysam.view(
            "-C", "--output-fmt-option", "no_ref=1", "-o", str(cram), str(bam), catch_stdout=False
        )
        encrypt(cram, d / "scaled.cram.c4gh", le_sec, grz_pub)
        run_file(
            f"scaled CRAM ({args.copies} copies)",
            cram,
            d / "scaled.cram.c4gh",
            grz_sec,
            args.repeat,
        )


if __name__ == "__main__":
    main()
