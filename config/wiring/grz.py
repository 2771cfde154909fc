"""Wiring of the GRZ intake: migrations, ports, the /grz blueprint and `genomseq grz`."""

from __future__ import annotations

from flask import Flask

from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component
from ga4gh.grz.cli import grz as grz_cli
from ga4gh.grz.http.api import register
from ga4gh.grz.ports import PruefberichtReceiver
from platform_provider.http import meldebestaetigungen
from platform_provider.ports import ParticipantDirectory


def wire(app: Flask, ctx: AppContext) -> None:
    """Register the /grz API; provide the in-process Prüfbericht receiver if none is wired."""
    from ga4gh.grz.service import grz_id
    from platform_provider.pruefberichte import PruefberichtRegister

    register(app)
    if ctx.find(PruefberichtReceiver) is None:  # type: ignore[type-abstract]
        # In-process: the platform provider accepts reports from approved GRZ/KDK only.
        directory = ctx.find(ParticipantDirectory)  # type: ignore[type-abstract]

        def is_approved(participant: str) -> bool:
            if directory is None:  # no platform provider in this deployment: only ourselves
                return participant == grz_id(ctx)
            return directory.is_approved(
                participant, "genome-data-center"
            ) or directory.is_approved(participant, "clinical-data-node")

        register_ = PruefberichtRegister(ctx.engine, is_approved)
        ctx.provide(PruefberichtReceiver, register_)  # type: ignore[type-abstract]
        ctx.provide(PruefberichtRegister, register_)
        meldebestaetigungen.register(app)


def seed_demo(ctx: AppContext) -> list[str]:
    """One generated, encrypted submission through the real intake (ga4gh/grz/demo.py)."""
    from ga4gh.grz.demo import seed_demo as seed  # pysam and crypt4gh only when seeding

    return seed(ctx)


COMPONENT = Component(
    name="grz",
    wire=wire,
    migrations=(
        MigrationSet("grz", "ga4gh.grz.storage.migrations"),
        # The platform provider's Prüfbericht register, which this component brought.
        MigrationSet("platform_pruefberichte", "platform_provider.pruefbericht_migrations"),
    ),
    commands=(grz_cli,),
    seed_demo=seed_demo,
)
