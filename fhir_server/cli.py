"""``genomseq fhir ...``: loading FHIR data and the demo data set.

``genomseq fhir load PATH...`` reads transaction/batch Bundles, single resources and NDJSON
(.json, .ndjson, optionally .gz or .bz2) from files or folders and loads them in parallel worker
processes through the same core as the REST API (validation, write steps, indexing).
"""

from __future__ import annotations

import bz2
import gzip
import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click
import orjson

from common.errors import GenomseqError

SUFFIXES = (".json", ".ndjson")
NDJSON_CHUNK = 500


@dataclass
class FileResult:
    """What loading one file did."""

    path: str
    resources: int = 0
    failures: list[str] = field(default_factory=list)
    retry: bool = False  # failed on a reference that a later file may provide


def discover(paths: list[str]) -> list[Path]:
    """Files to load: the given files and, for folders, every loadable file below them."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and _loadable(f)))
        else:
            found.append(p)
    return found


def _loadable(path: Path) -> bool:
    name = path.name
    for comp in (".gz", ".bz2"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    return name.endswith(SUFFIXES)


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.name.endswith(".bz2"):
        return bz2.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _is_ndjson(path: Path) -> bool:
    return ".ndjson" in path.name


_service: Any = None


def _worker_init(settings: Any) -> None:
    global _service
    from config.app import create_app
    from config.context import app_context
    from fhir_server.core.service import FhirService

    _service = app_context(create_app(settings)).get(FhirService)


def _load_file(path_str: str) -> FileResult:
    try:
        return _load_one(path_str)
    except Exception as exc:  # a bug or an outage must not stop the other files
        return FileResult(path_str, failures=[f"unexpected error: {type(exc).__name__}: {exc}"])


def _load_one(path_str: str) -> FileResult:
    from fhir_server.core.bundle import BundleProcessor
    from fhir_server.core.errors import PreconditionFailed, Unprocessable

    assert _service is not None
    path = Path(path_str)
    result = FileResult(path_str)
    try:
        with _open(path) as fh:
            if _is_ndjson(path):
                _load_ndjson(fh, result)
                return result
            doc = orjson.loads(fh.read())
    except (OSError, EOFError, ValueError) as exc:  # unreadable, bad compression, bad JSON
        result.failures.append(f"cannot read: {exc}")
        return result
    try:
        if (
            isinstance(doc, dict)
            and doc.get("resourceType") == "Bundle"
            and doc.get("type") in ("transaction", "batch")
        ):
            response = BundleProcessor(_service).process(doc)
            for i, entry in enumerate(response["entry"]):
                status = entry["response"]["status"]
                if status[:1] in ("4", "5"):
                    diag = entry["response"].get("outcome", {}).get("issue", [{}])[0]
                    result.failures.append(f"entry {i}: {status}: {diag.get('diagnostics', '')}")
                else:
                    result.resources += 1
        else:
            _put_or_post(doc)
            result.resources = 1
    except (Unprocessable, PreconditionFailed) as exc:
        result.failures.append(exc.message)
        result.retry = True
    except GenomseqError as exc:
        result.failures.append(exc.message)
    return result


def _put_or_post(resource: Any) -> None:
    from fhir_server.core.validation import check_resource_type

    res_type = check_resource_type(resource)
    if resource.get("id"):
        _service.update(res_type, resource["id"], resource)
    else:
        _service.create(res_type, resource)


def _ndjson_lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(fh, start=1):
        if line.strip():
            yield number, line


def _load_ndjson(fh: IO[bytes], result: FileResult) -> None:
    from fhir_server.core.bundle import BundleProcessor
    from fhir_server.core.validation import check_resource_type

    chunk: list[tuple[int, Any]] = []

    def flush() -> None:
        entries = []
        for _, res in chunk:
            rid = res.get("id") if isinstance(res, dict) else None
            rtype = res.get("resourceType") if isinstance(res, dict) else None
            req = (
                {"method": "PUT", "url": f"{rtype}/{rid}"}
                if rid
                else {"method": "POST", "url": str(rtype)}
            )
            entries.append({"resource": res, "request": req})
        try:
            BundleProcessor(_service).process(
                {"resourceType": "Bundle", "type": "transaction", "entry": entries}
            )
            result.resources += len(chunk)
        except GenomseqError:
            # Find the bad lines: load this chunk one resource at a time.
            for number, res in chunk:
                try:
                    check_resource_type(res)
                    _put_or_post(res)
                    result.resources += 1
                except GenomseqError as exc:
                    result.failures.append(f"line {number}: {exc.message}")
        chunk.clear()

    for number, line in _ndjson_lines(fh):
        try:
            chunk.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            result.failures.append(f"line {number}: malformed JSON: {exc}")
            continue
        if len(chunk) >= NDJSON_CHUNK:
            flush()
    if chunk:
        flush()


def load_paths(
    settings: Any, paths: list[str], workers: int, progress: bool = True
) -> list[FileResult]:
    """Load files in parallel; files that failed on unresolved references are retried last."""
    from tqdm import tqdm

    files = discover(paths)
    results: dict[str, FileResult] = {}
    bar = tqdm(total=len(files), unit="file", disable=not progress, file=sys.stderr)
    loaded = 0
    # forkserver: workers fork from a clean process, never from one with threads running.
    mp_context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=max(1, workers),
        initializer=_worker_init,
        initargs=(settings,),
        mp_context=mp_context,
    ) as pool:
        pending = [str(f) for f in files]
        for round_ in range(2):
            futures = {pool.submit(_load_file, p): p for p in pending}
            retry: list[str] = []
            for fut in as_completed(futures):
                res = fut.result()
                if res.retry and round_ == 0:
                    retry.append(res.path)
                    continue
                results[res.path] = res
                loaded += res.resources
                bar.update(1)
                bar.set_postfix(resources=loaded, refresh=False)
            pending = retry
            if not pending:
                break
    bar.close()
    return [results[str(f)] for f in files if str(f) in results]


@click.group("fhir")
def fhir_cli() -> None:
    """FHIR R4 clinical data node: load data."""


@fhir_cli.command("load")
@click.argument("paths", nargs=-1, required=True)
@click.option("--workers", type=int, default=None, help="Parallel worker processes.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def load(paths: tuple[str, ...], workers: int | None, no_progress: bool) -> None:
    """Load FHIR Bundles, resources and NDJSON (.json, .ndjson, .gz, .bz2) from PATHS."""
    from config.app import build_context
    from config.cli import upgrade_all
    from config.settings import load_settings

    settings = load_settings()
    ctx = build_context(settings)
    upgrade_all(ctx)
    ctx.engine.dispose()
    files = discover(list(paths))
    if not files:
        raise click.ClickException("no loadable files (.json, .ndjson, .gz, .bz2) found")
    missing = [str(f) for f in files if not f.exists()]
    n_workers = workers or settings.fhir.load_workers or os.cpu_count() or 1
    results = load_paths(
        settings, [str(f) for f in files if f.exists()], n_workers, progress=not no_progress
    )
    failed = [r for r in results if r.failures]
    for path in missing:
        click.echo(f"FAILED {path}: no such file", err=True)
    for r in failed:
        shown = "; ".join(r.failures[:3]) + (
            f" (+{len(r.failures) - 3} more)" if len(r.failures) > 3 else ""
        )
        click.echo(f"FAILED {r.path}: {shown}", err=True)
    resources = sum(r.resources for r in results)
    failures = sum(len(r.failures) for r in results) + len(missing)
    click.echo(f"files: {len(files)}, resources: {resources}, failures: {failures}")
    if failures:
        sys.exit(1)


def seed_demo(ctx: Any) -> list[str]:
    """A few synthetic, pseudonymous patients with observations and conditions."""
    from fhir_server.core.bundle import BundleProcessor
    from fhir_server.core.service import FhirService

    service = ctx.get(FhirService)
    entries: list[dict[str, Any]] = []
    for i in range(1, 4):
        pid = f"demo-patient-{i}"
        entries.append(
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": pid,
                    "gender": ["female", "male"][i % 2],
                    "birthDate": f"19{60 + i}-0{i}",
                },
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": f"demo-condition-{i}",
                    "subject": {"reference": f"Patient/{pid}"},
                    "code": {
                        "coding": [
                            {
                                "system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
                                "code": "Q87.4",
                                "display": "Marfan-Syndrom",
                            }
                        ]
                    },
                },
                "request": {"method": "PUT", "url": f"Condition/demo-condition-{i}"},
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"demo-observation-{i}",
                    "status": "final",
                    "subject": {"reference": f"Patient/{pid}"},
                    "code": {
                        "coding": [
                            {
                                "system": "http://loinc.org",
                                "code": "8302-2",
                                "display": "Body height",
                            }
                        ]
                    },
                    "valueQuantity": {
                        "value": 160 + 5 * i,
                        "unit": "cm",
                        "system": "http://unitsofmeasure.org",
                        "code": "cm",
                    },
                },
                "request": {"method": "PUT", "url": f"Observation/demo-observation-{i}"},
            }
        )
    BundleProcessor(service).process(
        {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    return [
        "curl -s {base}/fhir/metadata",
        "curl -s {base}/fhir/Patient/demo-patient-1",
        "curl -s {base}/fhir/Patient/demo-patient-1/_history",
        "curl -s -X POST -H 'Content-Type: application/fhir+json' "
        '-d \'{"resourceType":"Patient","gender":"other"}\' {base}/fhir/Patient',
    ]
