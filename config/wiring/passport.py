"""Wiring of the passport component: broker (OAuth 2.0 / OIDC / GA4GH passports),
clearinghouse as the app's authenticator, and the enforcement mechanism.

Provides on the context: ClientRegistry, UserDirectory (for the platform provider),
Clearinghouse and Enforcer (for every resource server). With authorization on, the
clearinghouse replaces ``ctx.authenticator`` (static API tokens, if configured, still work).
"""

from __future__ import annotations

import click
from flask import Flask

from common.auth import Authenticator, Principal, StaticTokenAuthenticator
from common.errors import Unauthenticated
from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component
from fhir_server.core.access import FhirAccessPolicy
from ga4gh.catalogue.core.access import ScopeReadPolicy
from ga4gh.catalogue.ports import PassportAuth, ReadPolicy
from ga4gh.passport.authenticator import ClearinghouseAuthenticator
from ga4gh.passport.broker import Broker, BrokerConfig, BrokerKeys
from ga4gh.passport.core.clearinghouse import Clearinghouse, Limits, TrustedIssuer, VisaPolicy
from ga4gh.passport.core.visas import (
    ACCEPTED_TERMS_AND_POLICIES,
    AFFILIATION_AND_ROLE,
    CONTROLLED_ACCESS_GRANTS,
    RESEARCHER_STATUS,
)
from ga4gh.passport.enforcement import Enforcer
from ga4gh.passport.http.blueprint import create_blueprint
from ga4gh.passport.http.oauth import build_server
from ga4gh.passport.integrations import (
    ClearinghousePassports,
    PassportFhirAccess,
    PassportReadPolicy,
)
from ga4gh.passport.ports import ClientRegistry, UserDirectory
from ga4gh.passport.storage.jwks import PinnedKeys
from ga4gh.passport.storage.sql import PassportStore, SqlUserDirectory
from platform_provider.ports import GrantDirectory

MIGRATIONS = (MigrationSet("passport", "ga4gh.passport.storage.migrations", "main"),)


def issuer_url(ctx: AppContext) -> str:
    """The broker's issuer URL from settings."""
    s = ctx.settings
    return (s.passport.issuer or s.public_base_url or f"http://{s.host}:{s.port}").rstrip("/")


def _trusted(ctx: AppContext, issuer: str) -> list[TrustedIssuer]:
    own = TrustedIssuer(issuer, (issuer + "/passport/jwks",),
                        frozenset({"visa", "passport", "access_token"}))
    out = [own]
    for entry in ctx.settings.passport.trusted_issuers:
        iss, *urls = entry.split()
        out.append(TrustedIssuer(iss, tuple(urls), frozenset({"visa", "passport"})))
    return out


def _policies(ctx: AppContext, issuer: str, platform_url: str) -> list[VisaPolicy]:
    rules: dict[str, tuple[set[str], set[str]]] = {
        # Grants come only from the platform provider's data access committee.
        CONTROLLED_ACCESS_GRANTS: ({platform_url}, {"dac"}),
        RESEARCHER_STATUS: ({issuer}, {"so", "system"}),
        AFFILIATION_AND_ROLE: ({issuer}, {"so", "system"}),
        ACCEPTED_TERMS_AND_POLICIES: ({issuer}, {"self", "so", "system"}),
    }
    for entry in ctx.settings.passport.visa_policies:
        vtype, source, by = entry.split()
        sources, bys = rules.setdefault(vtype, (set(), set()))
        if source != "*":
            sources.add(source)
        bys.update(by.split(","))
    return [VisaPolicy(t, frozenset(s), frozenset(b)) for t, (s, b) in rules.items()]


class _Chain:
    """Clearinghouse first; static operator tokens (if configured) for non-JWT tokens."""

    def __init__(self, first: Authenticator, fallback: Authenticator) -> None:
        self._first = first
        self._fallback = fallback

    def authenticate(self, authorization: str | None) -> Principal:
        try:
            return self._first.authenticate(authorization)
        except Unauthenticated:
            return self._fallback.authenticate(authorization)


def wire(app: Flask, ctx: AppContext) -> None:
    """Build the broker, clearinghouse and enforcer; mount the OAuth endpoints."""
    ps = ctx.settings.passport
    issuer = issuer_url(ctx)
    platform_url = (ps.platform_url or issuer + "/platform").rstrip("/")
    store = PassportStore(ctx.engine)
    users = SqlUserDirectory(store)
    ctx.provide(PassportStore, store)
    ctx.provide(ClientRegistry, store)  # type: ignore[type-abstract]
    ctx.provide(UserDirectory, users)  # type: ignore[type-abstract]
    keys = BrokerKeys(ctx.keys)
    config = BrokerConfig(
        issuer=issuer,
        audience=ps.audience or issuer,
        platform_url=platform_url,
        access_token_lifetime=ps.access_token_lifetime,
        refresh_token_lifetime=ps.refresh_token_lifetime,
        visa_lifetime=ps.visa_lifetime,
        passport_lifetime=min(ps.passport_lifetime, 3600),
    )
    broker = Broker(config, keys, lambda: ctx.find(GrantDirectory))  # type: ignore[type-abstract]
    ctx.provide(Broker, broker)
    trusted = _trusted(ctx, issuer)
    clearinghouse = Clearinghouse(
        own_issuer=issuer,
        audience=config.audience,
        keys=PinnedKeys(issuer, keys.public, trusted),
        trusted=trusted,
        visa_policies=_policies(ctx, issuer, platform_url),
        is_revoked=store.access_token_revoked,
        limits=Limits(
            max_token_bytes=ps.max_token_bytes,
            max_passport_bytes=ps.max_passport_bytes,
            max_visas=ps.max_visas,
            max_passport_lifetime=3600,
            leeway=ps.leeway_seconds,
        ),
    )
    ctx.provide(Clearinghouse, clearinghouse)
    ctx.provide(Enforcer, Enforcer(ctx, platform_url, audit_mode=ps.audit_decisions))
    # htsget tickets and DRS access URLs: grants and consent decide for broker tokens.
    ctx.provide(ReadPolicy, PassportReadPolicy(ctx, ScopeReadPolicy()))  # type: ignore[type-abstract]
    # FHIR: reads, searches, includes, $everything and history only within grants + consent.
    ctx.provide(FhirAccessPolicy, PassportFhirAccess(ctx))  # type: ignore[type-abstract]
    # DRS PassportAuth: passports in request bodies, verified by the same clearinghouse.
    ctx.provide(PassportAuth, ClearinghousePassports(clearinghouse))  # type: ignore[type-abstract]
    if ctx.settings.authorization == "on":
        authenticator: Authenticator = ClearinghouseAuthenticator(clearinghouse)
        if ctx.settings.api_tokens_file:
            authenticator = _Chain(
                authenticator, StaticTokenAuthenticator.from_file(ctx.settings.api_tokens_file)
            )
        ctx.authenticator = authenticator
    server = build_server(app, store, users, broker, clearinghouse,
                          issuer + "/passport/token")
    app.register_blueprint(
        create_blueprint(app, server, broker, users, clearinghouse,
                         ctx.keys.secret("passport-login-form"))
    )


@click.group("passport")
def passport_group() -> None:
    """Passport broker: local accounts and OAuth clients."""


@passport_group.command("add-user")
@click.argument("username")
@click.option("--affiliation", default="")
@click.option("--bona-fide", is_flag=True, help="Registered-access researcher status.")
@click.password_option()
def add_user(username: str, affiliation: str, bona_fide: bool, password: str) -> None:
    """Create a local account of the embedded identity provider."""
    from config.app import build_context
    from config.settings import load_settings

    ctx = build_context(load_settings())
    user = PassportStore(ctx.engine).create_user(
        username, password, affiliation=affiliation,
        researcher_status="bona-fide" if bona_fide else "none",
    )
    click.echo(f'{{"sub": "{user.subject}"}}')


DEMO_CLIENT = "Demo research app"


def seed_demo(ctx: AppContext) -> list[str]:
    """A public OAuth client for trying the code flow (PKCE) against the embedded broker."""
    from sqlalchemy import select

    from ga4gh.passport.storage.tables import clients

    store = PassportStore(ctx.engine)
    issuer = issuer_url(ctx)
    with ctx.engine.connect() as conn:
        existing = conn.execute(
            select(clients.c.client_id).where(clients.c.name == DEMO_CLIENT)
        ).scalar()
    client_id = existing or store.register_client(
        DEMO_CLIENT, "researcher-app", public=True,
        redirect_uris=["http://127.0.0.1:8765/callback"],
        scopes=["openid", "profile", "offline_access", "ga4gh_passport_v1", "user/*.rs"],
    ).client_id
    return [
        f"passport: discovery at {issuer}/.well-known/openid-configuration",
        f"passport: demo public client_id {client_id} (PKCE S256, redirect "
        "http://127.0.0.1:8765/callback)",
    ]


COMPONENT = Component(
    name="passport", wire=wire, migrations=MIGRATIONS, commands=(passport_group,),
    seed_demo=seed_demo,
)
