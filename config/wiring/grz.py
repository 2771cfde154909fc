"""Wiring of the GRZ intake: migrations, ports, the /grz blueprint and `genomseq grz`."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component
from ga4gh.grz.cli import grz as grz_cli
from ga4gh.grz.http.api import register
from ga4gh.grz.ports import PruefberichtReceiver


def wire(app: Flask, ctx: AppContext) -> None:
    """Register the /grz API; provide the in-process Prüfbericht receiver if none is wired."""
    from platform_provider.pruefberichte import PruefberichtRegister

    register(app)
    if ctx.find(PruefberichtReceiver) is None:  # type: ignore[type-abstract]
        # In-process: the platform provider of this deployment approves this GRZ.
        register_ = PruefberichtRegister(
            Path(ctx.settings.data_dir) / "platform" / "pruefberichte",
            approved_participants=[ctx.settings.grz.genomic_data_center_id],
        )
        ctx.provide(PruefberichtReceiver, register_)  # type: ignore[type-abstract]
        ctx.provide(PruefberichtRegister, register_)


COMPONENT = Component(
    name="grz",
    wire=wire,
    migrations=(MigrationSet("grz", "ga4gh.grz.storage.migrations"),),
    commands=(grz_cli,),
)
