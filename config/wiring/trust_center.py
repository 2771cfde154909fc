"""Wiring of the trust_center component and of the audit logs it registers.

The audit log's tables live in both databases: the main database (any component appends via
``ctx.get(AuditLog)``) and the trust center's own database (the trust center's operations).
"""

from __future__ import annotations

from flask import Flask

from common.audit import AuditLog
from common.audit_cli import AUDIT_KEY_NAME, audit_group
from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component

MIGRATIONS = (
    MigrationSet("audit", "common.audit_migrations", "main"),
    MigrationSet("audit_tc", "common.audit_migrations", "trust_center"),
)


def wire(app: Flask, ctx: AppContext) -> None:
    """Provide the main database's audit log to every component."""
    ctx.provide(AuditLog, AuditLog(ctx.engine, ctx.keys.signing_key(AUDIT_KEY_NAME, "ed25519")))


COMPONENT = Component(
    name="trust_center", wire=wire, migrations=MIGRATIONS, commands=(audit_group,)
)
