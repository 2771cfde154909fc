"""``genomseq audit ...``: operator commands for the tamper-evident audit logs."""

from __future__ import annotations

import sys

import click

from common.audit import AuditLog

AUDIT_KEY_NAME = "audit"


@click.group("audit")
def audit_group() -> None:
    """Tamper-evident audit logs (main database and the trust center's database)."""


@audit_group.command("verify")
@click.option(
    "--database",
    type=click.Choice(["main", "trust-center"]),
    default="main",
    show_default=True,
    help="Which database's log to check.",
)
def verify_command(database: str) -> None:
    """Check every hash link and the signed head; exit 1 naming the first broken entry."""
    from config.app import build_context
    from config.settings import load_settings

    settings = load_settings()
    if database == "trust-center" and settings.trust_center.url:
        raise click.ClickException(
            "the trust center runs elsewhere (trust_center.url): verify its log there")
    ctx = build_context(settings)
    engine = ctx.trust_center_engine if database == "trust-center" else ctx.engine
    log = AuditLog(engine, ctx.keys.signing_key(AUDIT_KEY_NAME, "ed25519"))
    result = log.verify()
    if result.ok:
        noun = "entry" if result.entries == 1 else "entries"
        click.echo(f"audit log ({database}) intact: {result.entries} {noun}, head signed by "
                   f"key {result.head_key_id or '-'}")
        return
    click.echo(
        f"audit log ({database}) BROKEN at entry {result.first_broken}: {result.reason} "
        f"({result.entries} entries verified before it)",
        err=True,
    )
    sys.exit(1)
