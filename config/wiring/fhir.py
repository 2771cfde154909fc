"""Wiring of the fhir component (FHIR R4 clinical data node)."""

from __future__ import annotations

from flask import Flask

from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component

MIGRATIONS = (MigrationSet("fhir", "fhir_server.storage.migrations"),)


def wire(app: Flask, ctx: AppContext) -> None:
    """Nothing to wire yet."""


COMPONENT = Component(name="fhir", wire=wire, migrations=MIGRATIONS)
