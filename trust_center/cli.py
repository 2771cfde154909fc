"""``genomseq trust-center ...``: operator commands of the trust center (Flask CLI, app context).

Operators act under their own name (``--operator``, default the OS user): re-identification
approvals need two different ones, and every command lands in the trust center's audit log.
"""

from __future__ import annotations

import getpass
import json
import sys

import click
from flask.cli import with_appcontext

from common.errors import GenomseqError
from config.context import app_context
from trust_center.service import TrustCenterService


def _service() -> TrustCenterService:
    service = app_context().find(TrustCenterService)
    if service is None:
        raise click.ClickException(
            "this deployment uses a remote trust center (trust_center.url); run the command there"
        )
    return service


def _operator(name: str | None) -> str:
    return "operator:" + (name or getpass.getuser())


def _fail(exc: GenomseqError) -> None:
    click.echo(f"refused ({exc.code}): {exc.message}", err=True)
    sys.exit(1)


operator_option = click.option(
    "--operator", default=None, help="Your name as it goes into the audit log (default: OS user)."
)


@click.group("trust-center")
def trust_center_group() -> None:
    """Trust center operations: cases, key rotation, re-identification approvals."""


@trust_center_group.command("register-case")
@click.option("--ik", required=True, help="Institutionskennzeichen of the hospital (9 digits).")
@click.option("--arbeitsnummer", required=True, help="The hospital's case number (<= 40).")
@click.option("--kvnr", prompt="KVNR (unchangeable part)", hide_input=True,
              help="Prompted without echo when left out, to keep it out of shell history.")
@click.option("--tan-g", default=None, help="Compatibility mode: hospital-generated tanG.")
@click.option("--tan-c", default=None, help="Compatibility mode: hospital-generated tanC.")
@operator_option
@with_appcontext
def register_case(ik: str, arbeitsnummer: str, kvnr: str, tan_g: str | None, tan_c: str | None,
                  operator: str | None) -> None:
    """Register a case for a hospital and print its Vorgangsnummern."""
    try:
        reg = _service().register_case(ik=ik, arbeitsnummer=arbeitsnummer, kvnr=kvnr,
                                       actor=_operator(operator), tan_g=tan_g, tan_c=tan_c)
    except GenomseqError as exc:
        _fail(exc)
        return
    click.echo(json.dumps({
        "vorgangsnummerGenomic": reg.vorgangsnummer_genomic,
        "vorgangsnummerClinical": reg.vorgangsnummer_clinical,
        "expires": reg.expires.isoformat(), "mode": reg.mode}, indent=2))


@trust_center_group.command("rotate-key")
@click.option("--domain", required=True, help="kdk:<id>, grz:<id> or project:<id>.")
@operator_option
@with_appcontext
def rotate_key(domain: str, operator: str | None) -> None:
    """Move a domain to its next pseudonym key, re-deriving every pseudonym issued in it."""
    try:
        result = _service().rotate_key(domain, _operator(operator))
    except GenomseqError as exc:
        _fail(exc)
        return
    click.echo(f"{result.domain}: k{result.old_version} -> k{result.new_version}, "
               f"{result.rederived} pseudonyms re-derived")


@trust_center_group.command("key-fingerprint")
@with_appcontext
def key_fingerprint() -> None:
    """Print the fingerprint of the loaded master key (never the key)."""
    click.echo(_service().keys.fingerprint)


@trust_center_group.group("reidentification")
def reidentification() -> None:
    """Re-identification requests under dual control."""


@reidentification.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "answered", "refused"]),
              default=None)
@with_appcontext
def list_requests(status: str | None) -> None:
    """List requests, newest first."""
    requests = _service().reidentification_requests(status)
    for r in requests:
        click.echo(f"{r.id}  {r.status:9} {r.purpose:19} ik={r.hospital_ik} "
                   f"by={r.requested_by} approvals={len(r.approvers)} "
                   f"created={r.created.isoformat(timespec='seconds')}")
    click.echo(f"{len(requests)} request(s)")


@reidentification.command("approve")
@click.argument("request_id")
@operator_option
@with_appcontext
def approve(request_id: str, operator: str | None) -> None:
    """Approve a request; the second approval must come from a different operator."""
    try:
        r = _service().approve_reidentification(request_id, _operator(operator))
    except GenomseqError as exc:
        _fail(exc)
        return
    click.echo(f"{r.id}: {r.status} ({len(r.approvers)} approval(s))")


@reidentification.command("reject")
@click.argument("request_id")
@operator_option
@with_appcontext
def reject(request_id: str, operator: str | None) -> None:
    """Turn a request down."""
    try:
        _service().reject_reidentification(request_id, _operator(operator))
    except GenomseqError as exc:
        _fail(exc)
        return
    click.echo(f"{request_id}: refused")
