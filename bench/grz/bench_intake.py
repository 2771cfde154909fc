"""GRZ intake throughput: Crypt4GH decryption, SHA-256 and index build of BAM/CRAM, and
metadata.json validation time.

Input: the NA12878 slice in /work/shared/data/genomics (BAM; its c4gh copies encrypted by the
htsget-rs test key ``alice`` for ``bob``), scaled up by writing the slice's reads ``--copies``
times at shifted positions so the figures are not dominated by per-file overhead. The scaled
files are encrypted for a fresh GRZ key with the crypt4gh library, exactly as grz-cli does.

    PYTHONPATH=. python bench/grz/bench_intake.py --copies 40 --repeat 5

Every step is timed ``--repeat`` times: best and median wall clock, and the median CPU
seconds of this process and its children (samtools), which the other jobs on a shared machine
disturb much less than the wall clock. MB/s are always of the encrypted input.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class Timing:
    """Wall-clock and CPU seconds (this process and its children) of each repetition."""

    wall: list[float]
    cpu: list[float]

    def line(self, label: str, size: int) -> str:
        b, m = min(self.wall), statistics.median(self.wall)
        cpu = statistics.median(self.cpu)
        return (
            f"  {label:44} best {size / MB / b:6.0f} MB/s ({b:.3f} s)  median "
            f"{size / MB / m:6.0f} MB/s ({m:.3f} s)  CPU {cpu:.3f} s = {size / MB / cpu:5.0f} MB/s"
        )


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, repeat: int) -> Timing:  # type: ignore[no-untyped-def]
    wall, cpu = [], []
    for _ in range(repeat):
        c, t = _cpu(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(_cpu() - c)
    return Timing(wall, cpu)


def run_file(label: str, plain: Path, encrypted: Path, secret: bytes, repeat: int) -> None:
    # Throughput is always of the encrypted input (what arrives in the inbox), for BAM and CRAM.
    size = encrypted.stat().st_size
    kind = "cram" if plain.suffix == ".cram" else "bam"
    print(f"{label}: {size / MB:.1f} MB encrypted ({plain.stat().st_size / MB:.1f} MB plaintext)")

    def show(name: str, t: Timing) -> None:
        print(t.line(name, size), flush=True)

    show("decrypt only", timed(lambda: decrypt_only(encrypted, secret), repeat))
    show("SHA-256 only (of the plaintext)", timed(lambda: sha_only(plain), repeat))

    def stream_only() -> None:
        with tempfile.TemporaryDirectory() as work:
            Crypt4GHFileProcessor(secret).process(encrypted, kind, Path(work))

    show("stream: decrypt+SHA-256+sniff+write", timed(stream_only, repeat))

    def index_with(builder: str, threads: int) -> Callable[[], None]:
        def run() -> None:
            with tempfile.TemporaryDirectory() as work:
                target = Path(work) / ("x" + plain.suffix)
                target.symlink_to(plain)
                extra = ["-@", str(threads)] if threads else []
                if builder == "pysam":
                    pysam.index(*extra, str(target), str(Path(work) / "x.idx"))
                else:
                    build_index(target, threads)

        return run

    for threads in (0, 2):
        show(
            f"index, pysam (bundled zlib) -@{threads}", timed(index_with("pysam", threads), repeat)
        )
    if samtools():
        for threads in (0, 1, 2):
            show(
                f"index, samtools (libdeflate) -@{threads}",
                timed(index_with("samtools", threads), repeat),
            )

    with tempfile.TemporaryDirectory() as work:
        indexed = Path(work) / ("x" + plain.suffix)
        indexed.symlink_to(plain)
        build_index(indexed)
        proc = Crypt4GHFileProcessor(secret)
        show(
            "QC: read counts + mean depth from the index",
            timed(lambda: proc.alignment_stats(indexed), repeat),
        )

    def intake(proc: Crypt4GHFileProcessor) -> Callable[[], None]:
        # What the intake runs per aligned-reads file: the streaming pass, then the index
        # (unless built during the pass) and the read counts and coverage estimate from it.
        def run() -> None:
            with tempfile.TemporaryDirectory() as work:
                out = proc.process(encrypted, kind, Path(work))
                assert out.plaintext is not None
                proc.alignment_stats(out.plaintext)

        return run

    for overlap in (False, True):
        for threads in (0, 2):
            proc = Crypt4GHFileProcessor(
                secret, index_while_decrypting=overlap, index_threads=threads
            )
            how = "index while decrypting" if overlap else "index after the pass"
            show(f"INTAKE, {how}, -@{threads}", timed(intake(proc), repeat))


def ab_over_time(encrypted: Path, secret: bytes, minutes: float, pause: float) -> None:
    """Old sequential default against the new default, interleaved for ``minutes``: on a shared
    machine the load drifts, so alternating is the fair comparison."""
    size = encrypted.stat().st_size
    configs = {
        "sequential, -@0 (old default)": Crypt4GHFileProcessor(secret),
        "while decrypting, -@2 (new default)": Crypt4GHFileProcessor(
            secret, index_while_decrypting=True, index_threads=2
        ),
    }
    results: dict[str, Timing] = {name: Timing([], []) for name in configs}
    loads: list[float] = []
    end = time.monotonic() + minutes * 60
    while time.monotonic() < end:
        for name, proc in configs.items():
            t = timed(lambda proc=proc: _intake_once(proc, encrypted), 2)  # type: ignore[misc]
            results[name].wall.extend(t.wall)
            results[name].cpu.extend(t.cpu)
            loads.append(os.getloadavg()[0])
            print(
                f"{time.strftime('%H:%M:%S')} {name:36} "
                + " ".join(f"{w:.2f}s" for w in t.wall)
                + f"  load {loads[-1]:.1f}",
                flush=True,
            )
        time.sleep(pause)
    print(f"A/B, load average {min(loads):.1f}-{max(loads):.1f}:")
    for name, t in results.items():
        print(t.line(f"{name} (n={len(t.wall)})", size))


def _intake_once(proc: Crypt4GHFileProcessor, encrypted: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        out = proc.process(encrypted, "bam", Path(work))
        assert out.plaintext is not None
        proc.alignment_stats(out.plaintext)


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
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bam-only", action="store_true", help="only the scaled BAM")
    ap.add_argument(
        "--ab-minutes",
        type=float,
        default=0,
        help="instead: alternate the old and the new default BAM intake for this long",
    )
    args = ap.parse_args()
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if not args.bam_only and not args.ab_minutes:
        bench_metadata()
        run_file(
            "NA12878 slice BAM (htsget-rs c4gh copy)",
            DATA / "bam" / "htsnexus_test_NA12878.bam",
            DATA / "c4gh" / "htsnexus_test_NA12878.bam.c4gh",
            load_private_key(DATA / "c4gh" / "keys" / "bob.sec"),
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
        if args.ab_minutes:
            ab_over_time(d / "scaled.bam.c4gh", grz_sec, args.ab_minutes, 45)
            return
        run_file(
            f"scaled BAM ({args.copies} copies)", bam, d / "scaled.bam.c4gh", grz_sec, args.repeat
        )
        if args.bam_only:
            return
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
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
