"""`genomseq grz`: intake of submissions, their status and the GRZ's Crypt4GH key pair."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from common.errors import GenomseqError
from ga4gh.grz.core.states import State

log = logging.getLogger("genomseq.grz")


def _ctx():  # type: ignore[no-untyped-def]
    from config.app import create_app
    from config.context import app_context
    from config.settings import load_settings

    # create_app wires every component, so the catalogue and trust center ports exist.
    return app_context(create_app(load_settings()))


@click.group("grz")
def grz() -> None:
    """Genome data center: intake of grz-cli submissions."""


@grz.command("keygen")
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
def keygen(force: bool) -> None:
    """Create the GRZ's Crypt4GH key pair (secret key mode 0600 in the data directory)."""
    from config.settings import load_settings
    from ga4gh.grz.storage.crypt4gh_files import generate_keypair

    settings = load_settings()
    secret = Path(settings.grz.private_key_file or settings.data_dir / "grz" / "grz.sec")
    public = secret.with_suffix(".pub")
    if secret.exists():
        if not force:
            raise click.ClickException(f"{secret} exists (use --force to replace it)")
        secret.unlink()
    generate_keypair(secret, public)
    click.echo(f"secret key: {secret} (0600)")
    click.echo(f"public key: {public} (give this to the submitting hospitals)")


class _Echo:
    def step(self, submission_id: str, state: State, detail: str = "") -> None:
        click.echo(
            f"  {submission_id}: {state.value}" + (f"  {detail}" if detail else ""), err=True
        )


@grz.command("intake")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
def intake(path: Path) -> None:
    """Take in every submission under PATH (one directory per submission)."""
    from ga4gh.grz.service import make_inbox
    from ga4gh.grz.wiring_support import intake_for

    ctx = _ctx()
    inbox = make_inbox(ctx, path)
    ids = inbox.submission_ids()
    if not ids:
        click.echo(
            "no submissions found (expected directories named "
            "{submitterId}_{submissionDate}_{hash8})"
        )
        return
    service = intake_for(ctx, inbox, progress=_Echo())
    results = []
    stopped: list[tuple[str, str]] = []
    for i, sid in enumerate(ids, 1):
        click.echo(f"[{i}/{len(ids)}] {sid}", err=True)
        try:
            results.append(service.run(sid))
        except GenomseqError as exc:
            # Another component refused a step (e.g. the platform provider does not know this
            # GRZ yet): the submission keeps its state and resumes on the next run.
            current = service.store.get(sid)
            stopped.append(
                (
                    sid,
                    f"stopped at {current.state.value if current else '?'}: "
                    f"{exc.message} (resumes on the next run)",
                )
            )
        except Exception:
            # A bug or an outage (disk full, database gone): keep going with the next
            # submission; this one resumes from its last recorded state on the next run.
            log.exception("intake of a submission stopped unexpectedly")
            current = service.store.get(sid)
            state = current.state.value if current else "?"
            stopped.append((sid, f"stopped at {state}: internal error (see the log)"))
    click.echo("")
    click.echo(f"{'submission':40} {'state':10} {'QC':6} reason")
    for sub in results:
        qc = (
            "-"
            if sub.qc_passed is None or sub.state is State.error
            else ("pass" if sub.qc_passed else "fail")
        )
        reason = str(sub.error_reason or "")
        click.echo(f"{sub.submission_id:40} {sub.state.value:10} {qc:6} {reason}")
        for line in sub.error_detail[:5]:
            click.echo(f"    {line}")
    for sid, why in stopped:
        click.echo(f"{sid:40} {'pending':10} {'-':6} {why}")
    failed = sum(1 for s in results if s.state is State.error)
    click.echo(
        f"{len(results) + len(stopped)} submission(s): {len(results) - failed} accepted, "
        f"{failed} refused, {len(stopped)} pending"
    )
    if stopped:
        raise SystemExit(1)


@grz.command("status")
@click.argument("submission_id", required=False)
def status(submission_id: str | None) -> None:
    """Show one submission's history, or the latest submissions."""
    from config.app import build_context
    from config.settings import load_settings
    from ga4gh.grz.storage.sql import SqlSubmissionStore

    store = SqlSubmissionStore(build_context(load_settings()).engine)
    if submission_id is None:
        for sub in store.recent(limit=50):
            click.echo(f"{sub.submission_id:40} {sub.state.value:10} {sub.error_reason or ''}")
        return
    found = store.get(submission_id)
    if found is None:
        raise click.ClickException(f"no submission {submission_id}")
    click.echo(f"{found.submission_id}: {found.state.value} {found.error_reason or ''}")
    if found.qc_passed is not None and found.state is not State.error:
        click.echo(f"  quality check: {'passed' if found.qc_passed else 'failed'}")
    for f in found.files:
        ok = f.observed_checksum == f.declared_checksum and f.observed_size == f.declared_size
        reads = f"  {f.read_count} reads" if f.read_count is not None else ""
        click.echo(
            f"  file {f.file_path} ({f.detected_format}) {'verified' if ok else 'MISMATCH'}{reads}"
        )
    for t in found.history:
        click.echo(f"  {t.at:%Y-%m-%d %H:%M:%S} {t.state.value} {t.note}")
    for line in found.error_detail:
        click.echo(f"  ! {line}")
