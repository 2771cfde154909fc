"""Gene table for Beacon v2 ``geneId`` queries (Beacon v2 framework, requestParameters
``geneId``: "a unique gene identifier", here the HGNC symbol), loaded from GFF3 (GFF3
specification 1.26: 1-based closed coordinates, ``Name``/``gene_name``/``gene`` attributes,
percent-encoded values), GTF (GENCODE/Ensembl: ``gene_name "X";``) or BED (0-based half-open
``chrom start end name``), plain or gzip/BGZF-compressed, streamed line by line and written in
batches (a GENCODE GTF has ~3M lines, ~60k genes).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, text

from common.db import write_transaction
from common.errors import InvalidInput
from ga4gh.beacon.core.assemblies import canonical_chrom

BATCH = 5_000
# Feature types that are genes (Sequence Ontology gene and its Ensembl/NCBI subtypes).
GENE_TYPES = frozenset({"gene", "ncRNA_gene", "pseudogene", "transposable_element_gene",
                        "SO:0000704"})
_SYMBOL_KEYS = ("gene_name", "Name", "gene", "gene_symbol")
_GTF_ATTR = re.compile(r'\s*([A-Za-z0-9_.]+)\s+"?([^";]*)"?\s*')


@dataclass(frozen=True)
class Gene:
    """One gene: symbol and 0-based half-open span on a contig."""

    symbol: str
    chrom: str
    start: int
    end: int


def _attributes(column: str) -> dict[str, str]:
    """GFF3 ``k=v;k=v`` (percent-decoded) or GTF ``k "v"; k "v";`` attributes."""
    out: dict[str, str] = {}
    for part in column.split(";"):
        if not part.strip():
            continue
        if "=" in part and '"' not in part:
            key, _, value = part.partition("=")
            # Multiple values are comma separated; a literal comma is %2C.
            out.setdefault(key.strip(), unquote(value.strip().split(",")[0]))
        else:
            m = _GTF_ATTR.fullmatch(part)
            if m:
                out.setdefault(m.group(1), m.group(2))
    return out


def parse_genes(lines: Iterable[str]) -> Iterator[Gene]:
    """Genes of GFF3/GTF ``gene`` lines or BED lines; other lines are skipped. Raises
    InvalidInput (with the line number) for a gene line with bad coordinates."""
    for number, line in enumerate(lines, start=1):
        if line.startswith(("#", "track", "browser")) or not line.strip():
            continue
        if line.startswith(">"):  # GFF3 ##FASTA section
            return
        cols = line.rstrip("\r\n").split("\t")
        try:
            if len(cols) >= 9 and cols[3].isdigit() and cols[4].isdigit():
                if cols[2] not in GENE_TYPES:
                    continue
                attrs = _attributes(cols[8])
                symbol = next((attrs[k] for k in _SYMBOL_KEYS if attrs.get(k)), None)
                start, end = int(cols[3]) - 1, int(cols[4])
            elif len(cols) >= 4:
                symbol, start, end = cols[3].strip(), int(cols[1]), int(cols[2])
            else:
                continue
        except ValueError:
            raise InvalidInput(f"line {number}: start and end must be integers") from None
        if not symbol:
            continue
        if start < 0 or end <= start:
            raise InvalidInput(f"line {number}: empty or negative gene span")
        yield Gene(symbol[:64], cols[0], start, end)


def _open(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":  # gzip and BGZF, whatever the file is called
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def load_genes(engine: Engine, path: Path, assembly: str) -> int:
    """Replace the gene table of ``assembly`` with the genes of the file; returns how many.
    One transaction: queries see the old table until the new one is complete."""
    n = 0
    with _open(path) as fh, write_transaction(engine) as conn:
        conn.execute(text("DELETE FROM beacon_gene WHERE assembly = :a"), {"a": assembly})
        batch: list[dict[str, object]] = []
        for gene in parse_genes(fh):
            batch.append({"a": assembly, "s": gene.symbol, "b": gene.start, "e": gene.end,
                          "c": canonical_chrom(gene.chrom, assembly) or gene.chrom})
            if len(batch) >= BATCH:
                n += _insert(conn, batch)
        n += _insert(conn, batch)
    return n


def _insert(conn: Connection, batch: list[dict[str, object]]) -> int:
    if not batch:
        return 0
    conn.execute(text("INSERT INTO beacon_gene (assembly, symbol, chrom, start_pos, end_pos) "
                      "VALUES (:a, :s, :c, :b, :e)"), batch)
    n = len(batch)
    batch.clear()
    return n
