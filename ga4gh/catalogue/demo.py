"""Tiny but realistic genomic files written and indexed with pysam: the test fixtures and the
`genomseq serve --demo` data set.

Two chromosomes, reads and variants on both, several BGZF blocks per file (so range
selection is really exercised), mapped reads, unmapped reads placed beside their mate and
unplaced unmapped reads at the end (htsget ``referenceName=*``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pysam
import pysam.bcftools

CONTIGS = (("chr1", 60_000), ("chr2", 40_000))
READ_LENGTH = 100


@dataclass(frozen=True)
class GenomicFiles:
    """Paths of the generated files (each index beside its file)."""

    directory: Path
    fasta: Path
    bam: Path
    cram: Path
    vcf: Path
    bcf: Path


def _sequence(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def write_fasta(path: Path, rng: random.Random) -> dict[str, str]:
    """A FASTA of the CONTIGS with 60-column lines; returns the sequences."""
    seqs = {name: _sequence(rng, length) for name, length in CONTIGS}
    with path.open("w") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    pysam.faidx(str(path))
    return seqs


def _header() -> dict[str, object]:
    return {
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": n, "LN": ln} for n, ln in CONTIGS],
        "RG": [{"ID": "rg1", "SM": "sample1"}],
    }


def write_bam(path: Path, seqs: dict[str, str], rng: random.Random, per_contig: int) -> None:
    """A coordinate-sorted BAM with mapped, placed-unmapped and unplaced-unmapped reads."""
    header = pysam.AlignmentHeader.from_dict(_header())
    records: list[tuple[int, int, pysam.AlignedSegment]] = []
    serial = 0
    for tid, (name, length) in enumerate(CONTIGS):
        for _ in range(per_contig):
            pos = rng.randrange(0, length - READ_LENGTH)
            seg = pysam.AlignedSegment(header)
            seg.query_name = f"r{serial:06d}"
            serial += 1
            seg.reference_id = tid
            seg.reference_start = pos
            seg.mapping_quality = rng.randrange(0, 61)
            seg.cigarstring = f"{READ_LENGTH}M"
            seg.query_sequence = seqs[name][pos : pos + READ_LENGTH]
            seg.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
            seg.set_tag("RG", "rg1")
            seg.set_tag("NM", rng.randrange(0, 3))
            seg.set_tag("AS", rng.randrange(50, 101))
            if rng.random() < 0.03:
                # Unmapped read placed at its mate's position (SAMv1 section 2.4 rule 3).
                seg.flag = 4
                seg.cigarstring = None
                seg.mapping_quality = 0
            records.append((tid, pos, seg))
    records.sort(key=lambda r: (r[0], r[1]))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for _, _, seg in records:
            out.write(seg)
        for i in range(40):
            seg = pysam.AlignedSegment(header)
            seg.query_name = f"u{i:04d}"
            seg.flag = 4
            seg.reference_id = -1
            seg.reference_start = -1
            seg.query_sequence = _sequence(rng, READ_LENGTH)
            seg.query_qualities = pysam.qualitystring_to_array("#" * READ_LENGTH)
            seg.set_tag("RG", "rg1")
            out.write(seg)
    pysam.index(str(path))


def write_cram(bam: Path, fasta: Path, path: Path) -> None:
    """The BAM as CRAM 3 with small containers (several slices per contig), CRAI-indexed."""
    pysam.view(
        "-C", "-T", str(fasta), "--output-fmt-option", "seqs_per_slice=300",
        "-o", str(path), str(bam), catch_stdout=False,
    )
    pysam.index(str(path))


def write_vcf(path: Path, rng: random.Random, per_contig: int) -> None:
    """A bgzipped, TBI-indexed VCF with variants on both contigs."""
    header = pysam.VariantHeader()
    for name, length in CONTIGS:
        header.contigs.add(name, length=length)
    header.add_meta("INFO", items=[("ID", "DP"), ("Number", "1"), ("Type", "Integer"),
                                   ("Description", "Depth")])
    header.add_meta("INFO", items=[("ID", "AF"), ("Number", "A"), ("Type", "Float"),
                                   ("Description", "Allele frequency")])
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", "1"), ("Type", "String"),
                                     ("Description", "Genotype")])
    header.add_sample("sample1")
    header.add_sample("sample2")
    plain = path.with_suffix("")  # .vcf
    with pysam.VariantFile(str(plain), "w", header=header) as out:
        for name, length in CONTIGS:
            positions = sorted(rng.sample(range(1, length - 10), per_contig))
            for pos in positions:
                rec = out.new_record(contig=name, start=pos, alleles=("A", rng.choice("CGT")))
                if rng.random() < 0.1:  # some deletions span several bases
                    rec.alleles = ("ACGTA", "A")
                rec.info["DP"] = rng.randrange(5, 100)
                rec.info["AF"] = (round(rng.random(), 3),)
                rec.samples["sample1"]["GT"] = (0, 1)
                rec.samples["sample2"]["GT"] = (1, 1)
                out.write(rec)
    pysam.tabix_index(str(plain), preset="vcf", force=True)  # bgzips to path and indexes


def write_bcf(vcf: Path, path: Path) -> None:
    """The VCF as BCF with a CSI index."""
    with pysam.VariantFile(str(vcf)) as src, pysam.VariantFile(
        str(path), "wb", header=src.header
    ) as out:
        for rec in src:
            out.write(rec)
    pysam.bcftools.index("-f", str(path))  # -f: a second demo seeding rewrites it


def make_genomic_files(directory: Path, *, reads_per_contig: int = 4000,
                       variants_per_contig: int = 3000, seed: int = 20261124) -> GenomicFiles:
    """Write and index every test file into directory."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    fasta = directory / "ref.fa"
    seqs = write_fasta(fasta, rng)
    bam = directory / "reads.bam"
    write_bam(bam, seqs, rng, reads_per_contig)
    cram = directory / "reads.cram"
    write_cram(bam, fasta, cram)
    vcf = directory / "variants.vcf.gz"
    write_vcf(vcf, rng, variants_per_contig)
    bcf = directory / "variants.bcf"
    write_bcf(vcf, bcf)
    return GenomicFiles(directory, fasta, bam, cram, vcf, bcf)
