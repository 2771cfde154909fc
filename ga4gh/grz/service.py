"""Builds the intake from settings and the ports other components provide (used by the wiring,
the CLI and the HTTP API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ga4gh.grz.core.intake import IntakeConfig, IntakeService
from ga4gh.grz.ports import Inbox, Progress, PruefberichtReceiver, TanExchange
from ga4gh.grz.storage.crypt4gh_files import Crypt4GHFileProcessor, load_private_key
from ga4gh.grz.storage.inbox import FolderArchive, FolderInbox, S3Inbox
from ga4gh.grz.storage.sql import SqlSubmissionStore


def grz_id(ctx: Any) -> str:
    """This genome data center's id (GRZXXXnnn)."""
    s = ctx.settings
    return str(s.grz.genomic_data_center_id or s.trust_center.genome_data_center_id)


def grz_dir(ctx: Any) -> Path:
    """<data_dir>/grz."""
    return Path(ctx.settings.data_dir) / "grz"


def private_key_path(ctx: Any) -> Path:
    """Where the GRZ's Crypt4GH secret key is."""
    return Path(ctx.settings.grz.private_key_file or grz_dir(ctx) / "grz.sec")


def make_inbox(ctx: Any, root: Path | None = None) -> Inbox:
    """The folder inbox (default) or the S3 inbox."""
    g = ctx.settings.grz
    if root is None and g.s3_bucket:
        import boto3

        client = boto3.client("s3", endpoint_url=g.s3_endpoint_url or None)
        return S3Inbox(client, g.s3_bucket, grz_dir(ctx) / "staging")
    return FolderInbox(root or Path(g.inbox_dir or grz_dir(ctx) / "inbox"))


def make_intake(
    ctx: Any,
    *,
    inbox: Inbox,
    tans: TanExchange,
    reports: PruefberichtReceiver,
    progress: Progress | None = None,
) -> IntakeService:
    """An IntakeService on the main database and the configured directories."""
    from ga4gh.catalogue.ports import GenomicCatalogue
    from ga4gh.grz.storage.bridges import GenomicCatalogueRegistrar

    g = ctx.settings.grz
    catalogue = ctx.get(GenomicCatalogue)
    return IntakeService(
        store=SqlSubmissionStore(ctx.engine),
        inbox=inbox,
        processor=Crypt4GHFileProcessor(
            load_private_key(private_key_path(ctx)),
            index_while_decrypting=g.index_while_decrypting,
            index_threads=g.index_threads,
        ),
        catalogue=GenomicCatalogueRegistrar(catalogue),
        tans=tans,
        reports=reports,
        archive=FolderArchive(Path(g.archive_dir or grz_dir(ctx) / "archive")),
        config=IntakeConfig(
            genomic_data_center_id=grz_id(ctx),
            tan_key=ctx.keys.secret("grz-tan-digest"),
            work_dir=Path(g.work_dir or grz_dir(ctx) / "work"),
        ),
        progress=progress,
        audit=_audit_sink(ctx),
    )


def _audit_sink(ctx: Any) -> Any:
    """Intake events into the deployment's tamper-evident audit log, if it has one."""
    from common.audit import AuditLog

    log = ctx.find(AuditLog)
    if log is None:
        return None
    actor = "grz:" + grz_id(ctx)

    def append(event: str, details: dict[str, object]) -> None:
        log.append(event, actor, details)

    return append
