"""Wiring of the GRZ intake: migrations, ports, the /grz blueprint and `genomseq grz`."""

from __future__ import annotations

from flask import Flask

from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component


def wire(app: Flask, ctx: AppContext) -> None:
    """Register the GRZ blueprint and its error renderer."""


COMPONENT = Component(
    name="grz",
    wire=wire,
    migrations=(MigrationSet("grz", "ga4gh.grz.storage.migrations"),),
)
