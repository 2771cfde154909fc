"""Wiring of the passport component (not built yet: contributes nothing)."""

from __future__ import annotations

from flask import Flask

from config.context import AppContext
from config.wiring import Component


def wire(app: Flask, ctx: AppContext) -> None:
    """Nothing to wire yet."""


COMPONENT = Component(name="passport", wire=wire)
