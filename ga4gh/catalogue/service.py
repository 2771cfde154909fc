"""The catalogue service: ingest genomic files (validate, index, checksum, store) and look
them up. Implements the GenomicCatalogue port; pysam does the format-level work here, so this
module is an adapter room, not core.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.errors import Conflict, InvalidInput, NotFound
from ga4gh.catalogue.core.formats import (
    BadFile,
    BgzfChainChecker,
    check_complete,
    detect_format,
    is_bgzf,
)
from ga4gh.catalogue.core.model import (
    INDEX_SUFFIXES,
    KIND_OF_FORMAT,
    FileFormat,
    GenomicObject,
    IndexFormat,
    Kind,
    validate_object_id,
)
from ga4gh.catalogue.storage.ports import CatalogueRecords, ObjectStore

log = logging.getLogger("genomseq.catalogue")

_EXTENSION = {
    FileFormat.BAM: ".bam",
    FileFormat.CRAM: ".cram",
    FileFormat.VCF: ".vcf.gz",
    FileFormat.BCF: ".bcf",
    FileFormat.FASTA: ".fa",
}
# Largest reference length a BAI/TBI index can address (SAMv1 section 5.2: 2^29 - 1).
_MAX_BAI_LENGTH = (1 << 29) - 1
_CHUNK = 4 << 20

# Returns the sequence registry (refget) if that component is wired, else None. Looked up
# at use time because the refget component is wired after the catalogue.
RegistryLookup = Callable[[], Any]


class CatalogueService:
    """GenomicCatalogue on a records adapter and an object store."""

    def __init__(
        self,
        records: CatalogueRecords,
        store: ObjectStore,
        staging_dir: Path,
        *,
        progress_min_bytes: int = 64 << 20,
        sequence_registry: RegistryLookup | None = None,
    ) -> None:
        self.records = records
        self.store = store
        self.staging_dir = staging_dir
        self.progress_min_bytes = progress_min_bytes
        self._registry = sequence_registry or (lambda: None)

    # -- queries ---------------------------------------------------------------------------

    def get(self, object_id: str) -> GenomicObject | None:
        """The catalogued object with this id, or None."""
        return self.records.get(object_id)

    def list(
        self,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[GenomicObject]:
        """Catalogued objects in id order, optionally filtered."""
        return self.records.list(
            kind=kind, dataset=dataset, donor_pseudonym=donor_pseudonym, limit=limit,
            offset=offset,
        )

    def local_path(self, obj: GenomicObject) -> Path | None:
        """Local path of the data file if the store keeps files on local disk."""
        return self.store.local_path(obj.storage_key)

    # -- changes ---------------------------------------------------------------------------

    def annotate(
        self,
        object_id: str,
        *,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        reference_digest: str | None = None,
    ) -> GenomicObject:
        """Set dataset, donor pseudonym or reference digest (None leaves a field unchanged)."""
        obj = self.records.get(object_id)
        if obj is None:
            raise NotFound(f"no genomic object with id {object_id!r}")
        changes = {
            k: v
            for k, v in (
                ("dataset", dataset),
                ("donor_pseudonym", donor_pseudonym),
                ("reference_digest", reference_digest),
            )
            if v is not None
        }
        obj = obj.with_changes(**changes)
        self.records.update(obj)
        return obj

    def remove(self, object_id: str, *, force: bool = False) -> bool:
        """Remove the record, then the stored files; False if the id is unknown.

        A reference whose sequences refget serves from its file is kept unless ``force``.
        """
        obj = self.records.get(object_id)
        if obj is None:
            return False
        if (
            not force and obj.kind is Kind.REFERENCE and obj.reference_digest
            and self._registry() is not None
        ):
            raise Conflict(
                f"reference {object_id!r} is registered with refget, which serves its "
                "sequences from the stored file; remove it with force to break that"
            )
        self.records.delete(object_id)
        for key in _keys(obj):
            self.store.delete(key)
        return True

    def add(
        self,
        object_id: str,
        source: Path,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        reference_digest: str | None = None,
        progress: bool = False,
    ) -> GenomicObject:
        """Validate, index, checksum and store a file, then record it; all or nothing."""
        validate_object_id(object_id)
        source = Path(source)
        if not source.is_file():
            raise InvalidInput(f"no such file: {source}")
        if self.records.get(object_id) is not None:
            raise Conflict(f"a genomic object with id {object_id!r} already exists")
        fmt = _sniff(source)
        if kind is not None and KIND_OF_FORMAT[fmt] != Kind(kind):
            raise InvalidInput(
                f"{source.name} is {fmt.value}, which holds {KIND_OF_FORMAT[fmt].value}, "
                f"not {Kind(kind).value}"
            )
        name = object_id + _EXTENSION[fmt]
        if fmt is FileFormat.FASTA and _is_bgzf_file(source):
            name += ".gz"
        # A fresh directory per ingest: leftovers of an interrupted ingest never block an id,
        # and two concurrent ingests of one id cannot delete each other's files.
        token = uuid.uuid4().hex
        folder = f"{object_id}/{token[:16]}"
        data_key = f"{folder}/{name}"
        staging = self.staging_dir / token
        staging.mkdir(parents=True)
        stored: list[str] = []
        try:
            staged = staging / name
            md5, sha256, size = self._copy(source, staged, fmt, progress)
            index_format, aux = _index(source, staged, fmt)
            index_key = f"{folder}/{name}{_suffix(index_format)}"
            obj = GenomicObject(
                id=object_id,
                kind=KIND_OF_FORMAT[fmt],
                format=fmt,
                name=name,
                size=size,
                md5=md5,
                sha256=sha256,
                storage_key=data_key,
                index_key=index_key,
                index_format=index_format,
                aux_keys=tuple(f"{folder}/{p.name}" for p in aux),
                dataset=dataset,
                donor_pseudonym=donor_pseudonym,
                reference_digest=reference_digest,
            )
            for key, path in [
                (data_key, staged),
                (index_key, staged.with_name(name + _suffix(index_format))),
                *zip(obj.aux_keys, aux, strict=True),
            ]:
                self.store.put_file(key, path)
                stored.append(key)
            if fmt is FileFormat.FASTA:
                obj = self._register_sequences(obj)
            self.records.insert(obj)
            log.info("catalogued %s object (%s, %d bytes)", fmt.value, obj.kind.value, size)
            return obj
        except BaseException:
            for key in stored:
                self.store.delete(key)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------

    def _copy(
        self, source: Path, target: Path, fmt: FileFormat, progress: bool
    ) -> tuple[str, str, int]:
        """Copy while computing MD5 and SHA-256 and walking the BGZF block chain."""
        md5 = hashlib.md5(usedforsecurity=False)
        sha256 = hashlib.sha256()
        expected = source.stat().st_size
        chain = BgzfChainChecker() if _bgzf_format(fmt, source) else None
        bar = None
        if progress and expected >= self.progress_min_bytes:
            from tqdm import tqdm

            bar = tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                       desc=f"copying {source.name}", leave=False)
        size = 0
        try:
            with source.open("rb") as src, target.open("wb") as dst:
                while chunk := src.read(_CHUNK):
                    md5.update(chunk)
                    sha256.update(chunk)
                    if chain is not None:
                        chain.feed(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if chain is not None:
            chain.finish()
        if size != expected:
            raise BadFile(f"{source.name} changed while it was copied")
        return md5.hexdigest(), sha256.hexdigest(), size

    def _register_sequences(self, obj: GenomicObject) -> GenomicObject:
        registry = self._registry()
        if registry is None:
            return obj
        path = self.store.local_path(obj.storage_key)
        if path is None:
            log.warning("sequence registry needs local files; reference not registered")
            return obj
        digest = registry.add_fasta(path)
        return obj.with_changes(reference_digest=digest)


def _keys(obj: GenomicObject) -> list[str]:
    keys = [obj.storage_key, *obj.aux_keys]
    if obj.index_key:
        keys.append(obj.index_key)
    return keys


def _suffix(index_format: IndexFormat) -> str:
    return "." + index_format.value.lower()


def _is_bgzf_file(path: Path) -> bool:
    with path.open("rb") as fh:
        return is_bgzf(fh.read(18))


def _bgzf_format(fmt: FileFormat, path: Path) -> bool:
    if fmt in (FileFormat.BAM, FileFormat.VCF, FileFormat.BCF):
        return True
    return fmt is FileFormat.FASTA and _is_bgzf_file(path)


def _sniff(source: Path) -> FileFormat:
    """Format from the first bytes; refuses truncated files (missing EOF marker)."""
    with source.open("rb") as fh:
        head = fh.read(65536)
        fh.seek(max(0, source.stat().st_size - 64))
        tail = fh.read()
    if not head:
        raise BadFile(f"{source.name} is empty")
    try:
        fmt = detect_format(head)
    except BadFile as exc:
        raise BadFile(f"{source.name}: {exc.message}") from exc
    try:
        check_complete(fmt, head, tail)
    except BadFile as exc:
        raise BadFile(f"{source.name}: {exc.message}") from exc
    return fmt


def _existing_index(source: Path, fmt: FileFormat) -> tuple[Path, IndexFormat] | None:
    """An up-to-date index beside the source file (``x.bam.bai`` or ``x.bai``), if any."""
    mtime = source.stat().st_mtime
    for suffix, index_format in INDEX_SUFFIXES[fmt]:
        candidates = [source.with_name(source.name + suffix)]
        if source.suffix:
            candidates.append(source.with_suffix(suffix))
        for candidate in candidates:
            # An index older than its data may not describe it (htslib warns the same way).
            if candidate.is_file() and candidate.stat().st_mtime >= mtime:
                return candidate, index_format
    return None


def _pysam_message(exc: Exception) -> str:
    text = str(exc)
    for marker in ("stderr=", "stdout="):
        if marker in text:
            text = text.split(marker, 1)[1]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _index(source: Path, staged: Path, fmt: FileFormat) -> tuple[IndexFormat, list[Path]]:
    """Copy the index beside the source or build one; open the file with it as a check."""
    import pysam

    aux: list[Path] = []
    try:
        existing = _existing_index(source, fmt)
        if fmt is FileFormat.FASTA:
            pysam.faidx(str(staged))
            index_format = IndexFormat.FAI
            gzi = staged.with_name(staged.name + ".gzi")
            if gzi.exists():
                aux.append(gzi)
            with pysam.FastaFile(str(staged)) as fasta:
                if not fasta.references:
                    raise BadFile(f"{source.name} holds no sequences")
            return index_format, aux
        if existing is not None:
            index_path, index_format = existing
            shutil.copyfile(index_path, staged.with_name(staged.name + _suffix(index_format)))
        elif fmt in (FileFormat.BAM, FileFormat.CRAM):
            index_format = IndexFormat.CRAI if fmt is FileFormat.CRAM else IndexFormat.BAI
            if fmt is FileFormat.BAM and _max_length_reads(staged) > _MAX_BAI_LENGTH:
                index_format = IndexFormat.CSI
                pysam.index("-c", str(staged))
            else:
                pysam.index(str(staged))
        else:
            import pysam.bcftools

            index_format = IndexFormat.CSI
            if fmt is FileFormat.VCF and _max_length_variants(staged) <= _MAX_BAI_LENGTH:
                index_format = IndexFormat.TBI
                pysam.bcftools.index("-t", str(staged))
            else:
                pysam.bcftools.index(str(staged))
        _open_with_index(staged, fmt, staged.with_name(staged.name + _suffix(index_format)))
        return index_format, aux
    except BadFile:
        raise
    except (OSError, ValueError, pysam.utils.SamtoolsError) as exc:
        raise BadFile(
            f"{source.name} is not a valid {fmt.value} file: {_pysam_message(exc)}"
        ) from exc


def _max_length_reads(path: Path) -> int:
    import pysam

    with pysam.AlignmentFile(str(path), "rb", check_sq=False) as f:
        return max(f.lengths, default=0)


def _max_length_variants(path: Path) -> int:
    import pysam

    with pysam.VariantFile(str(path)) as f:
        return max((c.length or 0 for c in f.header.contigs.values()), default=0)


def _open_with_index(path: Path, fmt: FileFormat, index: Path) -> None:
    """Open the data file with its index (raises on a header or index pysam cannot read)."""
    import pysam

    if fmt in (FileFormat.BAM, FileFormat.CRAM):
        with pysam.AlignmentFile(
            str(path), "rc" if fmt is FileFormat.CRAM else "rb", index_filename=str(index),
            check_sq=False,
        ) as f:
            if not f.has_index():
                raise BadFile(f"the {fmt.value} index could not be read")
    else:
        with pysam.VariantFile(str(path), index_filename=str(index)) as f:
            if f.index is None:
                raise BadFile(f"the {fmt.value} index could not be read")
