"""Builds the Beacon variant index from VCF/BCF files (VCF 4.3: POS 1-based -> 0-based start,
END/SVLEN for symbolic alleles, GT for carriers), streaming with pysam: one record in memory
at a time, rows written in batches (SQLite executemany, PostgreSQL COPY)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pysam
from sqlalchemy import Engine, text

from common.db import is_sqlite, write_transaction
from ga4gh.beacon.core.assemblies import canonical_chrom, is_known_assembly, normalise_assembly
from ga4gh.beacon.core.ports import ReadFile, VariantFile
from ga4gh.beacon.core.variant_types import classify
from ga4gh.beacon.storage.sql import VARIANT_INDEXES, bin_for

log = logging.getLogger("genomseq.beacon")

BATCH = 20_000
_COLUMNS = ("dataset_pk", "analysis_pk", "individual_pk", "biosample_pk", "contig_pk", "pos",
            "end_pos", "bin", "ref", "alt", "vclass", "sv", "length", "vid", "zygosity")
# PostgreSQL types of _COLUMNS (migration beacon_0001) for binary COPY: the server skips
# parsing text into numbers, its main cost in a COPY of narrow rows.
_PG_TYPES = ("int4", "int4", "int4", "int4", "int4", "int8", "int8", "int4", "text", "text",
             "varchar", "bool", "int8", "int8", "varchar")
# Length of chromosome 1 tells the assembly when the header names none.
_CHR1 = {249250621: "GRCh37", 248956422: "GRCh38"}


@dataclass
class IndexStats:
    """What one index run did."""

    files: int = 0
    records: int = 0
    rows: int = 0
    seconds: float = 0.0
    # Of ``seconds``: re-creating the secondary indexes and planner statistics.
    index_seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def opaque_id(*parts: str) -> str:
    """A stable id that does not reveal lab sample names (first 16 hex of SHA-256)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def variant_vid(contig_pk: int, pos: int, ref: str, alt: str) -> int:
    """63-bit key of one allele at one position (COUNT DISTINCT of variants)."""
    digest = hashlib.blake2b(f"{contig_pk}:{pos}:{ref}:{alt}".encode(), digest_size=8).digest()
    return struct.unpack(">q", digest)[0] >> 1


def header_assembly(vcf: pysam.VariantFile, default: str) -> str:
    """The assembly a VCF header names (##reference, ##assembly, contig assembly=), or the
    one chromosome 1's length implies, else ``default``."""
    for rec in vcf.header.records:
        if rec.key in ("reference", "assembly") and rec.value:
            for token in re.split(r"[/\\:._\s-]+", rec.value) + [rec.value]:
                if token and is_known_assembly(token):
                    return normalise_assembly(token)
            low = rec.value.lower()
            for hint, assembly in (("grch38", "GRCh38"), ("hg38", "GRCh38"),
                                   ("grch37", "GRCh37"), ("hg19", "GRCh37"), ("hs37", "GRCh37"),
                                   ("b37", "GRCh37")):
                if hint in low:
                    return assembly
    for name, contig in vcf.header.contigs.items():
        if name in ("1", "chr1") and contig.length in _CHR1:
            return _CHR1[contig.length]
    return normalise_assembly(default)


class _Writer:
    """Batches rows into beacon_variant with the fastest path of the dialect: executemany on
    SQLite, COPY on PostgreSQL (``freeze``: the table was truncated in this transaction, so
    rows are written frozen and need no later hint-bit or freeze pass)."""

    def __init__(self, conn: Any, freeze: bool = False) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.freeze = freeze
        self.rows: list[tuple[Any, ...]] = []
        self.total = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        raw = self.conn.connection.driver_connection
        if self.sqlite:
            raw.executemany(
                f"INSERT INTO beacon_variant ({', '.join(_COLUMNS)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(_COLUMNS))})", self.rows)
        else:
            options = "FORMAT BINARY, FREEZE" if self.freeze else "FORMAT BINARY"
            with raw.cursor() as cur, cur.copy(
                    f"COPY beacon_variant ({', '.join(_COLUMNS)}) FROM STDIN "  # noqa: S608
                    f"({options})") as copy:
                copy.set_types(_PG_TYPES)
                write = copy.write_row
                for row in self.rows:
                    write(row)
        self.total += len(self.rows)
        self.rows.clear()


def _upsert_dataset(conn: Any, dataset: str) -> int:
    row = conn.execute(text("SELECT pk FROM beacon_dataset WHERE id = :d"), {"d": dataset}).first()
    now = _now()
    if row:
        conn.execute(text("UPDATE beacon_dataset SET updated_at = :t WHERE pk = :pk"),
                     {"t": now, "pk": row[0]})
        return int(row[0])
    conn.execute(text("INSERT INTO beacon_dataset (id, name, description, created_at, updated_at)"
                      " VALUES (:d, :d, '', :t, :t)"), {"d": dataset, "t": now})
    return int(conn.execute(text("SELECT pk FROM beacon_dataset WHERE id = :d"),
                            {"d": dataset}).scalar_one())


def _individual(conn: Any, dataset_pk: int, pseudonym: str) -> int:
    row = conn.execute(text("SELECT pk FROM beacon_individual WHERE dataset_pk = :d AND "
                            "pseudonym = :p"), {"d": dataset_pk, "p": pseudonym}).first()
    if row:
        return int(row[0])
    conn.execute(text("INSERT INTO beacon_individual (dataset_pk, pseudonym, research_consent) "
                      "VALUES (:d, :p, :no)"), {"d": dataset_pk, "p": pseudonym, "no": False})
    return _individual(conn, dataset_pk, pseudonym)


def _contig(conn: Any, cache: dict[tuple[str, str], int], assembly: str, name: str,
            length: int | None) -> int:
    key = (assembly, name)
    if key in cache:
        return cache[key]
    row = conn.execute(text("SELECT pk FROM beacon_contig WHERE assembly = :a AND name = :n"),
                       {"a": assembly, "n": name}).first()
    if row is None:
        conn.execute(text("INSERT INTO beacon_contig (assembly, name, length) VALUES "
                          "(:a, :n, :l)"), {"a": assembly, "n": name, "l": length})
        row = conn.execute(text("SELECT pk FROM beacon_contig WHERE assembly = :a AND "
                                "name = :n"), {"a": assembly, "n": name}).first()
    cache[key] = int(row[0])
    return cache[key]


def _remove_analysis(conn: Any, analysis_id: str) -> None:
    row = conn.execute(text("SELECT pk FROM beacon_analysis WHERE id = :a"),
                       {"a": analysis_id}).first()
    if row is None:
        return
    conn.execute(text("DELETE FROM beacon_variant WHERE analysis_pk = :a"), {"a": row[0]})
    conn.execute(text("DELETE FROM beacon_biosample WHERE analysis_pk = :a"), {"a": row[0]})
    conn.execute(text("DELETE FROM beacon_analysis WHERE pk = :a"), {"a": row[0]})


_MISSING: Any = object()


def _zygosity(alleles: tuple[int | None, ...], allele: int) -> str | None:
    """GT alleles -> zygosity of ``allele`` or None if the sample does not carry it."""
    called = [a for a in alleles if a is not None]
    if allele not in called:
        return None
    if len(alleles) == 1:
        return "1"
    return "1/1" if all(a == allele for a in called) and len(called) == len(alleles) else "0/1"


def _open_variants(path: str) -> pysam.VariantFile:
    """Open a VCF/BCF for streaming. htslib looks for an index on open and complains when
    there is none; the loader reads sequentially and needs none, so that message is muted."""
    previous = pysam.set_verbosity(0)
    try:
        return pysam.VariantFile(path)
    finally:
        pysam.set_verbosity(previous)


def index_file(conn: Any, vf: VariantFile, default_assembly: str,
               contigs: dict[tuple[str, str], int],
               progress: Callable[[int], None] | None = None,
               freeze: bool = False) -> tuple[int, int]:
    """Index one VCF/BCF into the open transaction; returns (records, rows)."""
    _remove_analysis(conn, vf.id)
    dataset_pk = _upsert_dataset(conn, vf.dataset)
    with _open_variants(vf.path) as vcf:
        assembly = header_assembly(vcf, default_assembly)
        pipeline = "unknown"
        file_date = dt.date.today().isoformat()
        for hrec in vcf.header.records:
            if hrec.key == "source" and hrec.value:
                pipeline = hrec.value[:255]
            elif hrec.key == "fileDate" and hrec.value and re.match(r"^\d{8}$", hrec.value):
                v = hrec.value
                file_date = f"{v[:4]}-{v[4:6]}-{v[6:]}"
        conn.execute(text(
            "INSERT INTO beacon_analysis (id, dataset_pk, pipeline_name, analysis_date, "
            "indexed_at, records) VALUES (:id, :d, :p, :dt, :t, 0)"),
            {"id": vf.id, "d": dataset_pk, "p": pipeline, "dt": file_date, "t": int(time.time())})
        analysis_pk = int(conn.execute(text("SELECT pk FROM beacon_analysis WHERE id = :id"),
                                       {"id": vf.id}).scalar_one())
        samples = list(vcf.header.samples)
        # (sample index, individual pk, biosample pk); the donor pseudonym of a catalogued
        # object owns all its samples (tumour/normal); otherwise sample names are pseudonyms.
        carriers: list[tuple[int, int, int]] = []
        owners = [vf.donor_pseudonym or s for s in samples] or (
            [vf.donor_pseudonym] if vf.donor_pseudonym else [])
        for idx, owner in enumerate(owners):
            ind_pk = _individual(conn, dataset_pk, owner)
            bs_id = opaque_id(vf.id, samples[idx] if samples else "")
            conn.execute(text("INSERT INTO beacon_biosample (id, dataset_pk, analysis_pk, "
                              "individual_pk, sample) VALUES (:id, :d, :a, :i, :s)"),
                         {"id": bs_id, "d": dataset_pk, "a": analysis_pk, "i": ind_pk,
                          "s": samples[idx] if samples else None})
            bs_pk = int(conn.execute(text("SELECT pk FROM beacon_biosample WHERE id = :id"),
                                     {"id": bs_id}).scalar_one())
            carriers.append((idx, ind_pk, bs_pk))
        chrom_map: dict[str, int] = {}
        writer = _Writer(conn, freeze)
        add = writer.add
        # Genotypes repeat (0/1, 1/1, ...): zygosity per (GT, allele) is computed once.
        zygosities: dict[tuple[Any, int], str | None] = {}
        records = 0
        sites_only = not samples
        for rec in vcf:
            records += 1
            contig_pk = chrom_map.get(rec.chrom)
            if contig_pk is None:
                canonical = canonical_chrom(rec.chrom, assembly) or rec.chrom
                length = vcf.header.contigs[rec.chrom].length \
                    if rec.chrom in vcf.header.contigs else None
                contig_pk = _contig(conn, contigs, assembly, canonical, length)
                chrom_map[rec.chrom] = contig_pk
            alts, ref = rec.alts, rec.ref
            if not alts or ref is None:
                continue
            pos = rec.start
            gts: list[Any] | None = None if sites_only else [
                s.allele_indices for s in rec.samples.values()]
            svtype = None
            for ai, alt in enumerate(alts, start=1):
                if len(ref) == 1 and len(alt) == 1 and alt != "*" and alt != ".":
                    # Fast path for the common case, same results as classify().
                    vclass, sv, end, length = "SNP", False, pos + 1, 1
                else:
                    if alt in ("*", "<*>", "<NON_REF>", "."):
                        continue
                    symbolic = alt.startswith("<")
                    if symbolic and svtype is None:
                        svtype = (rec.info.get("SVTYPE") if "SVTYPE" in rec.header.info
                                  else None) or ""
                    vclass, sv = classify(ref, alt, svtype or None)
                    end = rec.stop if (symbolic or vclass == "BND") else pos + len(ref)
                    if symbolic:
                        length = max(end - pos, 1)
                    elif vclass in ("SNP", "MNP"):
                        length = len(ref)
                    else:
                        length = abs(len(alt) - len(ref)) or len(ref)
                vid = variant_vid(contig_pk, pos, ref, alt)
                b = bin_for(pos, end)
                for idx, ind_pk, bs_pk in carriers:
                    if gts is None:
                        zyg: str | None = ""
                    else:
                        key = (gts[idx], ai)
                        zyg = zygosities.get(key, _MISSING)
                        if zyg is _MISSING:
                            zyg = zygosities[key] = _zygosity(*key)
                        if zyg is None:
                            continue
                    add((dataset_pk, analysis_pk, ind_pk, bs_pk, contig_pk, pos, end, b,
                         ref, alt, vclass, sv, length, vid, zyg))
            if progress and records % 10_000 == 0:
                progress(10_000)
        writer.flush()
        if progress:
            progress(records % 10_000)
        conn.execute(text("UPDATE beacon_analysis SET records = :r WHERE pk = :a"),
                     {"r": records, "a": analysis_pk})
    return records, writer.total


def drop_variant_indexes(conn: Any) -> None:
    """Drop the variant indexes before a full rebuild (building them once is faster)."""
    for name in VARIANT_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))


def create_variant_indexes(conn: Any) -> None:
    """Re-create the variant indexes and refresh planner statistics."""
    if conn.dialect.name == "postgresql":
        # Sorting ~2M keys per index in memory instead of in temporary files.
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    for name, cols in VARIANT_INDEXES.items():
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON beacon_variant "
                          f"({', '.join(cols)})"))
    conn.execute(text("ANALYZE beacon_variant" if conn.dialect.name == "postgresql"
                      else "ANALYZE"))


def build_index(engine: Engine, files: Iterable[VariantFile], default_assembly: str, *,
                rebuild: bool = True, progress: Callable[[int], None] | None = None
                ) -> IndexStats:
    """Index the files; ``rebuild`` empties the variant index first (``genomseq beacon index``).

    Individuals, their consent snapshot and terms survive a rebuild (they are refreshed
    separately); analyses and biosamples are re-created from the files.
    """
    stats = IndexStats()
    started = time.perf_counter()
    contigs: dict[tuple[str, str], int] = {}
    with write_transaction(engine) as conn:
        freeze = False
        if rebuild:
            drop_variant_indexes(conn)
            if conn.dialect.name == "postgresql":
                # DROP INDEX already locks the table; TRUNCATE leaves no dead rows and lets
                # COPY write frozen rows. SQLite's DELETE without WHERE truncates too.
                conn.execute(text("TRUNCATE beacon_variant"))
                freeze = True
            else:
                conn.execute(text("DELETE FROM beacon_variant"))
            conn.execute(text("DELETE FROM beacon_run"))
            conn.execute(text("DELETE FROM beacon_biosample"))
            conn.execute(text("DELETE FROM beacon_analysis"))
        for vf in files:
            records, rows = index_file(conn, vf, default_assembly, contigs, progress, freeze)
            stats.files += 1
            stats.records += records
            stats.rows += rows
        t = time.perf_counter()
        create_variant_indexes(conn)
        stats.index_seconds = time.perf_counter() - t
    stats.seconds = time.perf_counter() - started
    log.info("beacon index built", extra={"files": stats.files, "records": stats.records,
                                           "rows": stats.rows, "sqlite": is_sqlite(engine)})
    return stats


# SAM @RG PL values (SAM v1 spec section 1.3) -> Beacon platform labels.
PLATFORMS = {"ILLUMINA": "Illumina", "ONT": "Oxford Nanopore", "PACBIO": "PacBio",
             "IONTORRENT": "Ion Torrent", "BGI": "BGI", "DNBSEQ": "DNBSEQ",
             "ELEMENT": "Element Biosciences", "ULTIMA": "Ultima Genomics",
             "SOLID": "SOLiD", "LS454": "454", "CAPILLARY": "Capillary", "HELICOS": "Helicos",
             "SINGULAR": "Singular Genomics"}
# Library strategies (SRA vocabulary, as Beacon's runs use it) recognised in @RG DS or LB.
_STRATEGIES = {"WGS": "WGS", "WES": "WXS", "WXS": "WXS", "EXOME": "WXS",
               "PANEL": "Targeted-Capture", "AMPLICON": "AMPLICON", "RNA-SEQ": "RNA-Seq",
               "RNASEQ": "RNA-Seq"}


@dataclass(frozen=True)
class RunInfo:
    """What one read file's header tells of the run(s) behind it, per sample (@RG SM)."""

    sample: str
    run_date: str | None
    platform: str | None
    library_strategy: str | None
    library_layout: str | None


def read_groups(path: str) -> list[RunInfo]:
    """Runs of a BAM/CRAM by its @RG header lines (SAM v1 section 1.3: SM sample, PL
    platform, DT date, DS/LB description and library), one per sample; only the header is
    read (a CRAM needs no reference for that)."""
    with pysam.AlignmentFile(path, check_sq=False) as f:
        header = f.header.to_dict()
    by_sample: dict[str, list[dict[str, Any]]] = {}
    for rg in header.get("RG", []):
        by_sample.setdefault(str(rg.get("SM", "")), []).append(rg)
    out = []
    for sample, groups in by_sample.items():
        dates = sorted(d[:10] for g in groups if (d := str(g.get("DT", "")))
                       and re.match(r"^\d{4}-\d{2}-\d{2}", d))
        platforms = {PLATFORMS.get(str(g.get("PL", "")).upper()) for g in groups} - {None}
        strategy = None
        for g in groups:
            words = re.split(r"[^A-Za-z-]+", f"{g.get('DS', '')} {g.get('LB', '')}".upper())
            found = {_STRATEGIES[w] for w in words if w in _STRATEGIES}
            if len(found) == 1:
                strategy = found.pop()
                break
        out.append(RunInfo(sample, dates[0] if dates else None,
                           platforms.pop() if len(platforms) == 1 else None, strategy, None))
    return out or [RunInfo("", None, None, None, None)]


def _paired(path: str, probe: int = 1000) -> str | None:
    """PAIRED or SINGLE from the first reads' flags (None for an empty file)."""
    with pysam.AlignmentFile(path, check_sq=False) as f:
        seen = 0
        for read in f.fetch(until_eof=True):
            if read.is_paired:
                return "PAIRED"
            seen += 1
            if seen >= probe:
                break
    return "SINGLE" if seen else None


def index_runs(engine: Engine, files: Iterable[ReadFile]) -> int:
    """Index catalogued read files as runs (Beacon v2 default model ``runs``), replacing the
    runs of each file. A run links to the biosample of the same donor and sample name that an
    indexed VCF holds; otherwise its biosampleId is an opaque id of (file, sample)."""
    n = 0
    now = int(time.time())
    with write_transaction(engine) as conn:
        for rf in files:
            try:
                runs = read_groups(rf.path)
            except (OSError, ValueError) as exc:
                log.warning("beacon: read file not readable; skipped",
                            extra={"object": rf.id, "error": type(exc).__name__})
                continue
            try:
                layout = _paired(rf.path)
            except (OSError, ValueError):  # e.g. a CRAM whose reference is not at hand
                layout = None
            conn.execute(text("DELETE FROM beacon_run WHERE id = :id OR id LIKE :prefix"),
                         {"id": rf.id, "prefix": rf.id.replace("%", "") + ":%"})
            dataset_pk = _upsert_dataset(conn, rf.dataset)
            for info in runs:
                owner = rf.donor_pseudonym or info.sample
                if not owner:
                    continue
                ind_pk = _individual(conn, dataset_pk, owner)
                row = conn.execute(text(
                    "SELECT id FROM beacon_biosample WHERE dataset_pk = :d AND individual_pk = :i "
                    "AND sample = :s ORDER BY id"),
                    {"d": dataset_pk, "i": ind_pk, "s": info.sample}).first()
                run_id = rf.id if len(runs) == 1 else f"{rf.id}:{opaque_id(rf.id, info.sample)}"
                conn.execute(text(
                    "INSERT INTO beacon_run (id, dataset_pk, individual_pk, biosample_id, sample, "
                    "run_date, library_strategy, library_layout, platform, indexed_at) VALUES "
                    "(:id, :d, :i, :b, :s, :dt, :ls, :ll, :pl, :t)"),
                    {"id": run_id, "d": dataset_pk, "i": ind_pk,
                     "b": row[0] if row else opaque_id(rf.id, info.sample), "s": info.sample,
                     "dt": info.run_date or rf.catalogued_on or dt.date.today().isoformat(),
                     "ls": info.library_strategy, "ll": layout, "pl": info.platform, "t": now})
                n += 1
    return n


def set_contig_digests(engine: Engine, fasta: str, assembly: str) -> int:
    """Record MD5 and refget (sha512t24u ``SQ.``) digests of the indexed contigs that the
    FASTA holds, so queries may name them by digest; returns how many were set."""
    import base64

    done = 0
    with pysam.FastaFile(fasta) as fa, write_transaction(engine) as conn:
        rows = conn.execute(text("SELECT pk, name FROM beacon_contig WHERE assembly = :a"),
                            {"a": assembly}).all()
        by_name = {canonical_chrom(n, assembly) or n: n for n in fa.references}
        for pk, name in rows:
            ref_name = by_name.get(name)
            if ref_name is None:
                continue
            seq = fa.fetch(ref_name).upper().encode()
            md5 = hashlib.md5(seq, usedforsecurity=False).hexdigest()
            sq = "SQ." + base64.urlsafe_b64encode(hashlib.sha512(seq).digest()[:24]).decode()
            conn.execute(text("UPDATE beacon_contig SET md5 = :m, sq_digest = :s WHERE pk = :pk"),
                         {"m": md5, "s": sq, "pk": pk})
            done += 1
    return done


def record_sequence_digests(engine: Engine, sequences: Iterable[tuple[str, int, str, str]]
                            ) -> int:
    """Record digests of indexed contigs from a registered sequence collection's
    (name, length, md5, ``SQ.`` digest) items; a contig matches by canonical name and, when
    both are known, by length. Returns how many contigs were updated."""
    done = 0
    with write_transaction(engine) as conn:
        rows = conn.execute(text("SELECT pk, assembly, name, length FROM beacon_contig")).all()
        items = list(sequences)
        for pk, assembly, name, length in rows:
            for seq_name, seq_length, md5, sq in items:
                if (canonical_chrom(seq_name, assembly) or seq_name) != name:
                    continue
                if length is not None and seq_length and int(length) != int(seq_length):
                    continue
                sq = sq.removeprefix("ga4gh:")
                conn.execute(text("UPDATE beacon_contig SET md5 = :m, sq_digest = :s "
                                  "WHERE pk = :pk"), {"m": md5.lower(), "s": sq, "pk": pk})
                done += 1
                break
    return done
