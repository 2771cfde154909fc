"""Assembly and reference sequence names for Beacon v2 queries (default model
``genomicVariations/requestParametersComponents.json``: ``Assembly`` and ``RefSeqId``).

A query may name a chromosome as ``1``, ``chr1``, ``NC_000001.11`` (also ``refseq:NC_...``),
a GenBank accession (``CM000663.2``) or, for sequences the index knows, a refget digest
(``SQ.…``, ``ga4gh:SQ.…``, an MD5). Every name resolves to one canonical name per assembly:
the assembly's own name for assembled molecules (``1`` … ``22``, ``X``, ``Y``, ``MT``) and the
GenBank accession for scaffolds. The tables come from the NCBI assembly reports that PyPI
``bioutils`` ships, so no network is needed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bioutils import assemblies as _bioutils_assemblies

from common.errors import InvalidInput

# The assembly report whose sequence names each supported assembly uses.
_REPORTS = {"GRCh37": "GRCh37.p13", "GRCh38": "GRCh38.p14"}


@dataclass(frozen=True)
class ResolvedName:
    """A reference name resolved to an assembly and that assembly's canonical name."""

    assembly: str
    chrom: str


@functools.cache
def _assembly_aliases() -> dict[str, str]:
    """Lower-cased assembly name, UCSC name or RefSeq/GenBank accession -> GRCh37 or GRCh38."""
    aliases = {"hg19": "GRCh37", "b37": "GRCh37", "hs37d5": "GRCh37", "grch37": "GRCh37",
               "hg38": "GRCh38", "grch38": "GRCh38"}
    for name in _bioutils_assemblies.get_assembly_names():
        for canonical in _REPORTS:
            if name == canonical or name.startswith(canonical + "."):
                info = _bioutils_assemblies.get_assembly(name)
                aliases[name.lower()] = canonical
                for key in ("refseq_ac", "genbank_ac"):
                    if info.get(key):
                        aliases[info[key].lower()] = canonical
    return aliases


def normalise_assembly(value: str) -> str:
    """``GRCh38``, ``hg38``, ``GRCh38.p13``, ``GCF_000001405.39`` -> ``GRCh38``; 400 if unknown."""
    found = _assembly_aliases().get(value.strip().lower())
    if found is None:
        raise InvalidInput(
            f"unknown assemblyId {value!r}: this beacon holds GRCh37 and GRCh38 "
            "(also accepted: hg19, hg38, GRCh38.p13, GCF_000001405.40, ...)"
        )
    return found


def is_known_assembly(value: str) -> bool:
    """True if :func:`normalise_assembly` accepts the value."""
    return value.strip().lower() in _assembly_aliases()


@functools.cache
def _names(assembly: str) -> dict[str, str]:
    """Every accepted spelling (lower-cased) of each sequence of an assembly -> canonical name."""
    report = _bioutils_assemblies.get_assembly(_REPORTS[assembly])
    names: dict[str, str] = {}
    for seq in report["sequences"]:
        primary = seq["sequence_role"] == "assembled-molecule"
        canonical = seq["name"] if primary else (seq.get("genbank_ac") or seq["name"])
        spellings = {seq["name"], *seq.get("aliases", ())}
        for key in ("refseq_ac", "genbank_ac"):
            if seq.get(key):
                spellings.add(seq[key])
                spellings.add("refseq:" + seq[key])
        if primary:
            spellings.add("chr" + seq["name"])
        for s in spellings:
            names[s.lower()] = canonical
    names["m"] = names["chrm"] = names["chrmt"] = "MT"
    return names


@functools.cache
def _accession_assembly() -> dict[str, str]:
    """Versioned RefSeq/GenBank accession (lower-cased) -> the assembly it belongs to.

    Accessions shared by both assemblies (``NC_012920.1``, chrM) map to neither."""
    seen: dict[str, set[str]] = {}
    for assembly, report in _REPORTS.items():
        for seq in _bioutils_assemblies.get_assembly(report)["sequences"]:
            for key in ("refseq_ac", "genbank_ac"):
                if seq.get(key):
                    seen.setdefault(seq[key].lower(), set()).add(assembly)
    return {ac: next(iter(a)) for ac, a in seen.items() if len(a) == 1}


_DIGEST = re.compile(
    r"^(?:(?:ga4gh|refget):)?(SQ\.[A-Za-z0-9_-]{32})$|^(?:md5:)?([0-9a-fA-F]{32})$")


def digest_key(name: str) -> str | None:
    """The lookup key of a refget digest (``SQ.…`` or lower-case MD5), or None if not a digest."""
    m = _DIGEST.match(name.strip())
    if not m:
        return None
    return m.group(1) or m.group(2).lower()


def canonical_chrom(name: str, assembly: str) -> str | None:
    """The canonical name of a sequence of a known assembly, or None."""
    key = name.strip().lower()
    if key.startswith("refseq:"):
        key = key[len("refseq:"):]
    return _names(assembly).get(key) or _names(assembly).get("refseq:" + key)


def resolve_reference_name(
    name: str,
    assembly: str | None,
    default_assembly: str,
    lookup_digest: Callable[[str], ResolvedName | None],
    extra_names: Mapping[str, str] | None = None,
) -> ResolvedName:
    """Resolve a query's ``referenceName`` (and optional ``assemblyId``); 400 if unknown.

    An accession that belongs to one assembly fixes the assembly; naming a different
    ``assemblyId`` beside it is a contradiction and refused.
    """
    raw = name.strip()
    if not raw:
        raise InvalidInput("referenceName must not be empty")
    wanted = normalise_assembly(assembly) if assembly else None
    key = digest_key(raw)
    if key is not None:
        found = lookup_digest(key)
        if found is None:
            raise InvalidInput(
                f"unknown referenceName {raw!r}: no indexed sequence has this digest")
        if wanted and wanted != found.assembly:
            raise InvalidInput(f"referenceName {raw!r} is a {found.assembly} sequence, "
                               f"not {wanted}")
        return found
    bare = raw.lower().removeprefix("refseq:")
    implied = _accession_assembly().get(bare)
    if implied and wanted and implied != wanted:
        raise InvalidInput(f"referenceName {raw!r} is a {implied} sequence, not {wanted}")
    use = wanted or implied or default_assembly
    chrom = canonical_chrom(raw, use)
    if chrom is None and extra_names:
        chrom = extra_names.get(raw)
    if chrom is None:
        raise InvalidInput(f"unknown referenceName {raw!r} for assembly {use}")
    return ResolvedName(use, chrom)


@functools.cache
def _refseq(assembly: str) -> dict[str, str]:
    report = _bioutils_assemblies.get_assembly(_REPORTS[assembly])
    out: dict[str, str] = {}
    for seq in report["sequences"]:
        primary = seq["sequence_role"] == "assembled-molecule"
        canonical = seq["name"] if primary else (seq.get("genbank_ac") or seq["name"])
        if seq.get("refseq_ac"):
            out[canonical] = seq["refseq_ac"]
    return out


def refseq_accession(assembly: str, chrom: str) -> str | None:
    """The RefSeq accession of a canonical sequence name (``1`` -> ``NC_000001.11``)."""
    if assembly not in _REPORTS:
        return None
    return _refseq(assembly).get(chrom)
