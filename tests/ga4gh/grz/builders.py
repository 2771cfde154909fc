"""Real GRZ submissions for tests: pysam-made BAM/VCF, gzip FASTQ, BED, Crypt4GH-encrypted to a
freshly generated GRZ key, with metadata.json derived from BfArM's example submission."""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib.resources
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grz_pydantic_models_testing
import pysam
from crypt4gh import lib as c4gh_lib

from ga4gh.grz.storage.crypt4gh_files import generate_keypair, load_private_key

GRZ_ID = "GRZM00123"
REF_LENGTH = 5_000
READ_LENGTH = 100


def example_metadata(name: str = "wgs_tumor_germline", version: str = "v1.3.0") -> dict[str, Any]:
    """One of BfArM's example metadata documents."""
    base = importlib.resources.files(grz_pydantic_models_testing) / "example_metadata"
    return json.loads((base / name / f"{version}.json").read_text())


@dataclass
class Keys:
    """The GRZ's key pair and a hospital's (sender) key pair."""

    grz_secret_path: Path
    grz_public: bytes
    grz_secret: bytes
    sender_secret: bytes


def make_keys(directory: Path) -> Keys:
    """Generate GRZ and hospital Crypt4GH keys."""
    grz_pub = generate_keypair(directory / "grz.sec", directory / "grz.pub")
    generate_keypair(directory / "le.sec", directory / "le.pub")
    return Keys(
        directory / "grz.sec",
        grz_pub,
        load_private_key(directory / "grz.sec"),
        load_private_key(directory / "le.sec"),
    )


def bam_bytes(path: Path, reads: int, seed: int = 1) -> bytes:
    """A coordinate-sorted BAM on one contig of REF_LENGTH bp."""
    rnd = random.Random(seed)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": REF_LENGTH}]}
    starts = sorted(rnd.randrange(0, REF_LENGTH - READ_LENGTH) for _ in range(reads))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, start in enumerate(starts):
            a = pysam.AlignedSegment(out.header)
            a.query_name = f"r{seed}_{i}"
            a.query_sequence = "".join(rnd.choice("ACGT") for _ in range(READ_LENGTH))
            a.flag = 0
            a.reference_id = 0
            a.reference_start = start
            a.mapping_quality = 60
            a.cigartuples = [(0, READ_LENGTH)]
            a.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
            out.write(a)
    return path.read_bytes()


def vcf_bytes(path: Path, seed: int = 1) -> bytes:
    """A bgzipped VCF with a few SNVs."""
    header = pysam.VariantHeader()
    header.add_line(f"##contig=<ID=chr1,length={REF_LENGTH}>")
    header.add_sample("index")
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    rnd = random.Random(seed)
    with pysam.VariantFile(str(path), "wz", header=header) as out:
        for pos in sorted(rnd.sample(range(1, REF_LENGTH), 5)):
            rec = out.new_record(contig="chr1", start=pos - 1, stop=pos, alleles=("A", "G"))
            rec.samples["index"]["GT"] = (0, 1)
            out.write(rec)
    return path.read_bytes()


def fastq_bytes(reads: int, seed: int) -> bytes:
    """A gzip FASTQ."""
    rnd = random.Random(seed)
    lines = []
    for i in range(reads):
        lines += [
            f"@r{seed}_{i}",
            "".join(rnd.choice("ACGT") for _ in range(READ_LENGTH)),
            "+",
            "I" * READ_LENGTH,
        ]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def encrypt(plain: bytes, target: Path, keys: Keys, recipient: bytes | None = None) -> None:
    """Crypt4GH-encrypt bytes to the GRZ's public key (or another recipient)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = target.with_suffix(".plain")
    src.write_bytes(plain)
    with open(src, "rb") as i, open(target, "wb") as o:
        c4gh_lib.encrypt([(0, keys.sender_secret, recipient or keys.grz_public)], i, o)
    src.unlink()


@dataclass
class Submission:
    """A submission folder in an inbox."""

    root: Path
    metadata: dict[str, Any]
    plain: dict[str, bytes] = field(default_factory=dict)

    @property
    def submission_id(self) -> str:
        return self.root.name

    @property
    def tan_g(self) -> str:
        return str(self.metadata["submission"]["tanG"])


def submission_id_for(meta: dict[str, Any]) -> str:
    s = meta["submission"]
    return "_".join(
        (s["submitterId"], s["submissionDate"], hashlib.sha256(s["tanG"].encode()).hexdigest()[:8])
    )


def build_submission(
    inbox: Path,
    keys: Keys,
    *,
    profile: str = "lr",
    tan_g: str | None = None,
    submission_type: str = "initial",
    reads: int = 5_000,
    fastq_reads: tuple[int, int] = (200, 200),
    seed: int = 1,
    write_metadata: bool = True,
) -> Submission:
    """A submission. ``lr``: long-read WGS tumor-only with a BAM and a VCF (BfArM's
    wgs_lr_tumor_only example); ``sr``: WGS tumor+germline with FASTQ R1/R2 and a VCF per lab
    datum (wgs_tumor_germline example)."""
    meta = copy.deepcopy(
        example_metadata("wgs_lr_tumor_only" if profile == "lr" else "wgs_tumor_germline")
    )
    rnd = random.Random(seed)
    meta["submission"]["tanG"] = tan_g or "".join(rnd.choice("0123456789abcdef") for _ in range(64))
    meta["submission"]["submissionType"] = submission_type
    meta["submission"]["genomicDataCenterId"] = GRZ_ID
    work = inbox / ".build"
    work.mkdir(parents=True, exist_ok=True)
    plain: dict[str, bytes] = {}
    for li, lab in enumerate(meta["donors"][0]["labData"]):
        s = seed * 10 + li
        base = f"donor_001/lab{li}"
        if profile == "lr":
            files = [(f"{base}.bam", "bam", bam_bytes(work / f"{s}.bam", reads, s), {})]
        else:
            files = [
                (
                    f"{base}_R1.fastq.gz",
                    "fastq",
                    fastq_bytes(fastq_reads[0], s),
                    {"readOrder": "R1"},
                ),
                (
                    f"{base}_R2.fastq.gz",
                    "fastq",
                    fastq_bytes(fastq_reads[1], s + 100),
                    {"readOrder": "R2"},
                ),
            ]
        files.append((f"{base}.vcf.gz", "vcf", vcf_bytes(work / f"{s}.vcf.gz", s), {}))
        entries = []
        for path, ftype, data, extra in files:
            entry = {
                "filePath": path,
                "fileType": ftype,
                "checksumType": "sha256",
                "fileChecksum": hashlib.sha256(data).hexdigest(),
                "fileSizeInBytes": len(data),
                **extra,
            }
            if profile == "sr":
                entry.update(flowcellId=f"FC{li}", laneId="1")
            if ftype in ("fastq", "bam"):
                entry["readLength"] = READ_LENGTH
            entries.append(entry)
            plain[path] = data
        lab["sequenceData"]["files"] = entries
    sid = submission_id_for(meta)
    root = inbox / sid
    for path, data in plain.items():
        encrypt(data, root / "files" / (path + ".c4gh"), keys)
    if write_metadata:
        write_meta(root, meta)
    return Submission(root, meta, plain)


def write_meta(root: Path, meta: dict[str, Any]) -> None:
    """Write metadata/metadata.json."""
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "metadata.json").write_text(json.dumps(meta, indent=2))
