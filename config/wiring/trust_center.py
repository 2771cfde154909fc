"""Wiring of the trust_center component and of the audit logs it registers.

The audit log's tables live in both databases: the main database (any component appends via
``ctx.get(AuditLog)``) and the trust center's own database (the trust center's operations).
Without ``trust_center.url`` the trust center runs in-process on its own database and provides
the PseudonymService and ConsentService ports; with it, those ports are HTTP adapters and this
deployment never opens the trust center's database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from flask import Flask

from common.audit import AuditLog
from common.audit_cli import AUDIT_KEY_NAME, audit_group
from common.migrations import MigrationSet
from config.context import AppContext
from config.settings import Settings, SettingsError
from config.wiring import Component
from fhir_server.core.pipeline import WriteStep
from fhir_server.core.pseudonymize import PseudonymizeStep
from trust_center.cli import trust_center_group
from trust_center.client import HttpTrustCenterClient
from trust_center.core.pseudonyms import Domain, KeyRing
from trust_center.http import api as tc_http
from trust_center.ports import ConsentService, PseudonymService
from trust_center.service import TrustCenterService
from trust_center.storage.master_key import load_master_key

MIGRATIONS = (
    MigrationSet("audit", "common.audit_migrations", "main"),
    MigrationSet("audit_tc", "common.audit_migrations", "trust_center"),
    MigrationSet("trust_center", "trust_center.storage.migrations", "trust_center"),
)


class TrustCenterAuditLog(AuditLog):
    """The audit log in the trust center's own database (a distinct type to find it by)."""


def build_service(ctx: AppContext) -> TrustCenterService:
    """The in-process trust center on the trust center's own database and keys."""
    tc = ctx.settings.trust_center
    audit = TrustCenterAuditLog(
        ctx.trust_center_engine, ctx.keys.signing_key(AUDIT_KEY_NAME, "ed25519")
    )
    return TrustCenterService(
        ctx.trust_center_engine,
        KeyRing(load_master_key(ctx.settings)),
        audit,
        lifetime_days=tc.vorgangsnummer_lifetime_days,
        accept_transfer_numbers=tc.accept_transfer_numbers,
    )


def read_shared_secret(settings: Settings) -> bytes | None:
    """The shared secret machine clients may present, or None if none is configured."""
    path = settings.trust_center.shared_secret_file
    if not path:
        return None
    try:
        secret = Path(path).read_text().strip().encode()
    except OSError as exc:
        raise SettingsError(f"trust_center.shared_secret_file: cannot read {path}: {exc}") from exc
    if len(secret) < 32:
        raise SettingsError("trust_center.shared_secret_file: use at least 32 characters")
    return secret


def _provide_write_step(ctx: AppContext, pseudonyms: PseudonymService) -> None:
    """The FHIR node's pseudonymization step, unless switched off."""
    tc = ctx.settings.trust_center
    if not tc.pseudonymize_fhir:
        return
    domain = f"kdk:{tc.clinical_data_node_id}"
    Domain.parse(domain)  # a misconfigured node id fails at start, not on the first write

    def pseudonymize(pairs: Sequence[tuple[str, str]]) -> list[str]:
        return pseudonyms.pseudonymize_identifiers(domain, pairs)

    def exchange(vorgangsnummer: str) -> str:
        return pseudonyms.exchange(vorgangsnummer, domain).pseudonym

    ctx.provide(WriteStep,  # type: ignore[type-abstract]
                PseudonymizeStep(pseudonymize, domain, exchange))


def wire(app: Flask, ctx: AppContext) -> None:
    """Provide the audit log, the trust center ports and (in-process) the REST API."""
    ctx.provide(AuditLog, AuditLog(ctx.engine, ctx.keys.signing_key(AUDIT_KEY_NAME, "ed25519")))
    tc = ctx.settings.trust_center
    if tc.url:
        # A separate trust center deployment: its database and keys stay there.
        client = HttpTrustCenterClient(tc.url, shared_secret=read_shared_secret(ctx.settings),
                                       timeout=tc.request_timeout)
        ctx.provide(PseudonymService, client)  # type: ignore[type-abstract]
        ctx.provide(ConsentService, client)  # type: ignore[type-abstract]
        _provide_write_step(ctx, client)
        return
    if ctx.trust_center_engine is ctx.engine:
        # § 64e: the trust center's mapping never shares a database with the data it maps
        # (and on SQLite a node write would wait on its own trust center call).
        raise SettingsError(
            "trust_center.database_url must name a database of its own, not the main database")
    service = build_service(ctx)
    _provide_write_step(ctx, service)
    ctx.provide(TrustCenterService, service)
    ctx.provide(TrustCenterAuditLog, service.audit)  # type: ignore[arg-type]
    ctx.provide(PseudonymService, service)  # type: ignore[type-abstract]
    ctx.provide(ConsentService, service)  # type: ignore[type-abstract]
    tc_http.init_app(app, service, read_shared_secret(ctx.settings))


def seed_demo(ctx: AppContext) -> list[str]:
    """Register one demo case (gematik test KVNR) and show how a node exchanges its VNk."""
    if ctx.settings.trust_center.url:
        return []
    import time

    service = build_service(ctx)
    reg = service.register_case(ik="260326822", arbeitsnummer=f"DEMO-{time.time_ns()}",
                                kvnr="X110411675", actor="demo")
    domain = f"kdk:{ctx.settings.trust_center.clinical_data_node_id}"
    body = json.dumps({"vorgangsnummer": reg.vorgangsnummer_clinical, "domain": domain})
    return [
        "trust center: demo case registered; exchange its clinical Vorgangsnummer once:",
        f"curl -s -X POST {{base}}/trust-center/pseudonyms/exchange "
        f"-H 'Content-Type: application/json' -d '{body}'",
    ]


COMPONENT = Component(
    name="trust_center", wire=wire, migrations=MIGRATIONS,
    commands=(audit_group, trust_center_group), seed_demo=seed_demo,
)
