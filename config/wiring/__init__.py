"""One wiring module per component: its migrations, how it plugs into the app, its CLI group
and its demo data. create_app and the CLI iterate over COMPONENTS in this order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import click
from flask import Flask

from common.migrations import MigrationSet
from config.context import AppContext


@dataclass(frozen=True)
class Component:
    """How one component plugs into the composition root."""

    name: str
    wire: Callable[[Flask, AppContext], None]
    migrations: tuple[MigrationSet, ...] = ()
    # Click commands or groups added to `genomseq`.
    commands: tuple[click.Command, ...] = ()
    # Seeds demo data for `genomseq serve --demo`; returns example requests to print.
    seed_demo: Callable[[AppContext], list[str]] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def components() -> list[Component]:
    """Every component, in wiring order (ports other components need come first)."""
    from config.wiring import (
        beacon,
        fhir,
        genomics,
        grz,
        passport,
        platform,
        refget,
        service_info,
        trust_center,
    )

    return [
        service_info.COMPONENT,
        trust_center.COMPONENT,
        passport.COMPONENT,
        platform.COMPONENT,
        fhir.COMPONENT,
        genomics.COMPONENT,
        refget.COMPONENT,
        beacon.COMPONENT,
        grz.COMPONENT,
    ]
