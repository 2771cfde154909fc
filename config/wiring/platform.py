"""Wiring of the platform provider: participants, datasets, data-access applications, grants,
the public application register and the staff API (commands: platform_provider/cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from common.keys import SigningKey
from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component
from platform_provider.cli import platform_cli, seed_demo
from platform_provider.http import api, register
from platform_provider.ports import GrantDirectory, ParticipantDirectory
from platform_provider.service import PlatformService
from platform_provider.storage.sql import (
    SqlGrantDirectory,
    SqlParticipantDirectory,
    SqlPlatformStore,
)

MIGRATIONS = (MigrationSet("platform", "platform_provider.storage.migrations"),)
REGISTER_KEY = ("platform", "ec-p256")


def _find_port(ctx: AppContext, module: str, name: str) -> Callable[[], Any]:
    """Lazy lookup of another component's port that may not exist in this deployment."""

    def lookup() -> Any:
        try:
            mod = __import__(module, fromlist=[name])
        except ImportError:
            return None
        return ctx.find(getattr(mod, name))

    return lookup


def build_service(ctx: AppContext) -> PlatformService:
    """The platform provider's service over the main database and the other ports."""
    audit = _find_port(ctx, "common.audit", "AuditLog")()
    return PlatformService(
        store=SqlPlatformStore(ctx.engine),
        audit=audit,
        client_registry=_find_port(ctx, "ga4gh.passport.ports", "ClientRegistry"),
        user_directory=_find_port(ctx, "ga4gh.passport.ports", "UserDirectory"),
        min_opinions=ctx.settings.platform.min_review_opinions,
    )


def wire(app: Flask, ctx: AppContext) -> None:
    """Provide GrantDirectory and the service; mount /platform and /register."""
    service = build_service(ctx)
    ctx.provide(PlatformService, service)
    ctx.provide(GrantDirectory, SqlGrantDirectory(ctx.engine))  # type: ignore[type-abstract]
    ctx.provide(ParticipantDirectory, SqlParticipantDirectory(ctx.engine))  # type: ignore[type-abstract]

    def key() -> SigningKey:
        return ctx.keys.signing_key(*REGISTER_KEY)  # type: ignore[arg-type]

    api.init_app(app, service)
    register.init_app(app, service, key, lambda: ctx.settings.platform.register_show_user_names)


COMPONENT = Component(
    name="platform",
    wire=wire,
    migrations=MIGRATIONS,
    commands=(platform_cli,),
    seed_demo=seed_demo,
)
