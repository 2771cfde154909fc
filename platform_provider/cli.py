"""``genomseq platform ...``: the platform provider's operator commands and its demo data."""

from __future__ import annotations

import getpass
import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from common.errors import GenomseqError
from config.context import AppContext, app_context
from platform_provider.core.codec import application_to_dict
from platform_provider.core.meldebestaetigung import Meldebestaetigung
from platform_provider.http import api
from platform_provider.service import COMMITTEE_ROLE, PlatformService

# -- CLI ------------------------------------------------------------------------------------


def _service() -> PlatformService:
    return app_context().get(PlatformService)


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read JSON from {path}: {exc}") from exc


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except GenomseqError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc


@click.group("platform")
def platform_cli() -> None:
    """Platform provider: participants, clients, users, datasets, applications, grants."""


@platform_cli.command("add-participant")
@click.argument("participant_id")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["clinical-data-node", "genome-data-center", "data-service", "hospital"]),
)
@click.option("--name", required=True, help="Name of the institution.")
@click.option(
    "--jwks", "jwks_file", help="JWK Set file: the client authenticates with private_key_jwt."
)
@click.option("--no-client", is_flag=True, help="Do not register an OAuth client.")
@with_appcontext
def add_participant(
    participant_id: str, kind: str, name: str, jwks_file: str | None, no_client: bool
) -> None:
    """Approve a participant (KDK, GRZ, data service, hospital) and register its client."""
    jwks = _read_json(jwks_file) if jwks_file else None
    p, creds = _run(
        lambda: _service().register_participant(
            participant_id, kind, name, actor=_actor(), jwks=jwks, create_client=not no_client
        )
    )
    out = api.participant_json(p)
    if creds is not None:
        out["credentials"] = {"client_id": creds.client_id, "client_secret": creds.client_secret}
    _echo_json(out)


@platform_cli.command("participant-status")
@click.argument("participant_id")
@click.argument("status", type=click.Choice(["approved", "suspended", "revoked"]))
@click.option("--reason", required=True)
@with_appcontext
def participant_status(participant_id: str, status: str, reason: str) -> None:
    """Suspend, reinstate or revoke a participant (and its OAuth client)."""
    p = _run(
        lambda: _service().set_participant_status(
            participant_id, status, reason=reason, actor=_actor()
        )
    )
    _echo_json(api.participant_json(p))


@platform_cli.command("list-participants")
@click.option("--kind", default=None)
@with_appcontext
def list_participants(kind: str | None) -> None:
    """List participants with their status."""
    _echo_json([api.participant_json(p) for p in _run(lambda: _service().participants(kind))])


@platform_cli.command("add-client")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    help="Client role, e.g. hospital, clinical-data-node, "
    "genome-data-center, data-service, researcher-app, admin.",
)
@click.option("--jwks", "jwks_file", help="JWK Set file (private_key_jwt; no secret issued).")
@click.option("--scope", "scopes", multiple=True, help="Scope to allow (repeatable).")
@with_appcontext
def add_client(name: str, role: str, jwks_file: str | None, scopes: tuple[str, ...]) -> None:
    """Register an OAuth 2.0 client; prints {"client_id", "client_secret"} as JSON."""
    jwks = _read_json(jwks_file) if jwks_file else None
    creds = _run(
        lambda: _service().add_client(
            name, role, actor=_actor(), jwks=jwks, scopes=list(scopes) or None
        )
    )
    _echo_json({"client_id": creds.client_id, "client_secret": creds.client_secret})


@platform_cli.command("add-user")
@click.argument("username")
@click.option("--password", default=None, help="Password (default: generated and printed).")
@click.option("--affiliation", default="")
@click.option("--email", default="")
@click.option("--bona-fide", is_flag=True, help="Mark as a bona fide researcher.")
@click.option(
    "--role", "roles", multiple=True, help="Account role, e.g. scientific-committee (repeatable)."
)
@with_appcontext
def add_user(
    username: str,
    password: str | None,
    affiliation: str,
    email: str,
    bona_fide: bool,
    roles: tuple[str, ...],
) -> None:
    """Create a researcher account; prints its subject (and a generated password)."""
    generated = password is None
    password = password or secrets.token_urlsafe(18)
    user = _run(
        lambda: _service().create_user(
            username,
            password,
            actor=_actor(),
            affiliation=affiliation,
            email=email,
            researcher_status="bona-fide" if bona_fide else "none",
            roles=roles,
        )
    )
    out = {"subject": user.subject, "username": user.username}
    if generated:
        out["password"] = password
    _echo_json(out)


@platform_cli.command("add-dataset")
@click.argument("json_file")
@with_appcontext
def add_dataset(json_file: str) -> None:
    """Register a dataset from JSON {dataset_id, title, data_categories, data_use, ...}."""
    d = _run(lambda: _service().add_dataset(_read_json(json_file), actor=_actor()))
    _echo_json(api.dataset_json(d))


@platform_cli.command("create-application")
@click.argument("json_file")
@with_appcontext
def create_application(json_file: str) -> None:
    """Create a draft data-access application from JSON; prints it."""
    app = _run(lambda: _service().create_application(_read_json(json_file), actor=_actor()))
    _echo_json(application_to_dict(app))


def _simple(name: str, method: str, help_text: str) -> None:
    @platform_cli.command(name, help=help_text)
    @click.argument("application_id")
    @with_appcontext
    def command(application_id: str) -> None:
        app = _run(lambda: getattr(_service(), method)(application_id, actor=_actor()))
        click.echo(f"{app.application_id}: {app.state.value}")


_simple("submit", "submit", "Submit a draft application.")
_simple("review", "start_review", "Hand a submitted application to the committee.")
_simple("activate", "activate", "Put an approved application into force (issues grants).")
_simple("withdraw", "withdraw", "Withdraw an application before the decision.")


def _with_reasons(name: str, method: str, help_text: str) -> None:
    @platform_cli.command(name, help=help_text)
    @click.argument("application_id")
    @click.option("--reasons", required=True)
    @with_appcontext
    def command(application_id: str, reasons: str) -> None:
        app = _run(
            lambda: getattr(_service(), method)(application_id, reasons=reasons, actor=_actor())
        )
        click.echo(f"{app.application_id}: {app.state.value}")


_with_reasons("reject", "reject", "Reject an application under review.")
_with_reasons("revoke", "revoke", "Revoke an approved or active application (grants end now).")


@platform_cli.command("opinion")
@click.argument("application_id")
@click.option("--reviewer", required=True, help="Committee member (account subject).")
@click.option("--recommendation", required=True, type=click.Choice(["approve", "reject", "revise"]))
@click.option("--comment", default="")
@with_appcontext
def opinion(application_id: str, reviewer: str, recommendation: str, comment: str) -> None:
    """Record a scientific committee member's opinion."""
    app = _run(
        lambda: _service().record_opinion(
            application_id, reviewer=reviewer, recommendation=recommendation, comment=comment
        )
    )
    click.echo(f"{app.application_id}: {len(app.opinions)} opinion(s)")


@platform_cli.command("approve")
@click.argument("application_id")
@click.option("--reasons", required=True)
@click.option("--confirm", multiple=True, help="Dataset whose needs_review outcome you confirm.")
@with_appcontext
def approve(application_id: str, reasons: str, confirm: tuple[str, ...]) -> None:
    """Approve an application under review (prints the DUO decision per dataset)."""
    app = _run(
        lambda: _service().approve(
            application_id, reasons=reasons, actor=_actor(), confirm=list(confirm)
        )
    )
    _echo_json(application_to_dict(app)["dataset_decisions"])


@platform_cli.command("extend")
@click.argument("application_id")
@click.option("--until", "until", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--reason", required=True)
@with_appcontext
def extend(application_id: str, until: datetime, reason: str) -> None:
    """Extend an active application to a new last day of use."""
    app = _run(
        lambda: _service().extend(
            application_id, new_until=until.date(), reason=reason, actor=_actor()
        )
    )
    click.echo(f"{app.application_id}: valid until {app.valid_until}")


@platform_cli.command("expire-due")
@with_appcontext
def expire_due() -> None:
    """Expire every active application whose period is over (run daily)."""
    done = _run(lambda: _service().expire_due(actor=_actor()))
    click.echo(f"expired {len(done)} application(s)")


@platform_cli.command("report-result")
@click.argument("application_id")
@click.option("--title", required=True)
@click.option("--reference", required=True, help="DOI or URL.")
@click.option("--year", required=True, type=int)
@with_appcontext
def report_result(application_id: str, title: str, reference: str, year: int) -> None:
    """Record a publication of the project for the public register."""
    app = _run(
        lambda: _service().report_result(
            application_id, title=title, reference=reference, year=year, actor=_actor()
        )
    )
    click.echo(f"{app.application_id}: {len(app.publications)} result(s)")


@platform_cli.command("list-applications")
@click.option("--state", "states", multiple=True)
@click.option("-q", "query", default="")
@with_appcontext
def list_applications(states: tuple[str, ...], query: str) -> None:
    """List applications (id, state, institution, title)."""
    apps, total = _run(lambda: _service().applications(states=list(states) or None, query=query))
    for a in apps:
        click.echo(f"{a.application_id}\t{a.state.value}\t{a.institution}\t{a.project_title}")
    click.echo(f"{total} application(s)")


@platform_cli.command("show-application")
@click.argument("application_id")
@with_appcontext
def show_application(application_id: str) -> None:
    """Print the complete record of an application with its history."""
    svc = _service()
    out = _run(lambda: application_to_dict(svc.application(application_id)))
    out["events"] = svc.events(application_id)
    _echo_json(out)


@platform_cli.command("list-grants")
@click.option("--subject", default=None)
@click.option("--application", "application_id", default=None)
@click.option("--dataset", "dataset_id", default=None)
@click.option("--active", is_flag=True, help="Only grants in force now.")
@with_appcontext
def list_grants(
    subject: str | None, application_id: str | None, dataset_id: str | None, active: bool
) -> None:
    """List grants (user x dataset x purpose x validity)."""
    grants = _run(
        lambda: _service().grants(
            subject=subject,
            application_id=application_id,
            dataset_id=dataset_id,
            active_at=datetime.now(UTC) if active else None,
        )
    )
    _echo_json([api.grant_json(g) for g in grants])


@platform_cli.command("revoke-grant")
@click.argument("grant_id")
@click.option("--reason", required=True)
@with_appcontext
def revoke_grant(grant_id: str, reason: str) -> None:
    """Revoke one grant now."""
    g = _run(lambda: _service().revoke_grant(grant_id, reason=reason, actor=_actor()))
    _echo_json(api.grant_json(g))


@platform_cli.command("meldebestaetigung")
@click.argument("hash_string")
def meldebestaetigung(hash_string: str) -> None:
    """Check a Meldebestätigung hash string; prints its SHA-256 and IBE segment."""
    mb = _run(lambda: Meldebestaetigung.parse(hash_string))
    _echo_json(
        {
            "hash_string": mb.hash_string,
            "hash_value": mb.hash_value,
            "ibe_segment": mb.ibe_segment(),
            "billable": mb.billable,
        }
    )


# -- demo -----------------------------------------------------------------------------------

DEMO_DATASET = "demo-cohort-wgs"


def seed_demo(ctx: AppContext) -> list[str]:
    """One researcher with an approved, active application on a demo dataset."""
    owned: AppContext | None = None
    svc: PlatformService | None = ctx.find(PlatformService)
    if svc is None:  # a bare context (no wiring): build the app to get the services
        from config.app import create_app

        owned = app_context(create_app(ctx.settings))
        svc = owned.get(PlatformService)
    try:
        existing, _ = svc.applications(query="demo-cohort-wgs")
        if existing:
            return [
                f"platform: demo application {existing[0].application_id} already seeded; "
                "register at {base}/register"
            ]
        actor = "demo-seed"
        subject, login = "demo-researcher", []
        if svc.user_directory() is not None:
            password = secrets.token_urlsafe(12)
            user = svc.create_user(
                "demo-researcher",
                password,
                actor=actor,
                affiliation="member@uni-demo.example",
                researcher_status="bona-fide",
            )
            subject = user.subject
            login = [f"platform: researcher login demo-researcher / {password}"]
        with_client = svc.client_registry() is not None
        svc.register_participant(
            "KDKD00001",
            "clinical-data-node",
            "Demo Klinischer Datenknoten",
            actor=actor,
            create_client=with_client,
        )
        svc.register_participant(
            "GRZD00001",
            "genome-data-center",
            "Demo Genomrechenzentrum",
            actor=actor,
            create_client=with_client,
        )
        svc.add_dataset(
            {
                "dataset_id": DEMO_DATASET,
                "title": "Demo cohort (synthetic WGS)",
                "description": "Synthetic data for trying the platform.",
                "custodian_id": "GRZD00001",
                "data_categories": ["clinical", "variant-calls", "aligned-reads"],
                "data_use": {"codes": ["HMB", "IRB", "PUB"]},
            },
            actor=actor,
        )
        today = date.today()
        draft = svc.create_application(
            {
                "applicant_subject": subject,
                "applicant_name": "Demo Researcher",
                "institution": "Universität Demo",
                "project_title": "Demo: variant burden in a synthetic cohort",
                "project_summary": "Shows the data-access flow end to end.",
                "purpose": {"category": "HMB"},
                "datasets": [DEMO_DATASET],
                "data_categories": ["variant-calls", "aligned-reads"],
                "access_level": "individual",
                "authorized_users": [
                    {
                        "subject": subject,
                        "name": "Demo Researcher",
                        "institution": "Universität Demo",
                    }
                ],
                "requested_from": today.isoformat(),
                "requested_until": (today + timedelta(days=365)).isoformat(),
                "ethics_vote": "EK-DEMO-2026-001",
            },
            actor=actor,
        )
        app_id = draft.application_id
        svc.submit(app_id, actor=actor)
        svc.start_review(app_id, actor=actor)
        reviewer = "demo-committee-member"
        if svc.user_directory() is not None:
            reviewer = svc.create_user(
                "demo-committee-member",
                secrets.token_urlsafe(16),
                actor=actor,
                roles=(COMMITTEE_ROLE,),
            ).subject
        svc.record_opinion(app_id, reviewer=reviewer, recommendation="approve", comment="Demo")
        svc.approve(
            app_id,
            reasons="Demo approval: purpose matches the data-use terms.",
            actor="demo-committee-chair",
        )
        svc.activate(app_id, actor=actor)
        return [
            *login,
            f"platform: application {app_id} active for dataset {DEMO_DATASET}",
            "platform: public register {base}/register (JSON: {base}/register/api)",
        ]
    except GenomseqError as exc:
        return [f"platform: demo seeding skipped ({exc.message})"]
    finally:
        if owned is not None:
            owned.engine.dispose()
            owned.trust_center_engine.dispose()
