"""The runtime context the composition root builds: settings, engines and wired services.

Components find each other's ports here by type (``ctx.get(PseudonymService)``), never by
importing another component's storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import Flask, current_app
from sqlalchemy import Engine

from common.auth import Authenticator
from common.keys import KeyStore
from config.settings import Settings

T = TypeVar("T")


@dataclass
class AppContext:
    """What create_app built. One per app (and so one per gunicorn worker)."""

    settings: Settings
    engine: Engine
    trust_center_engine: Engine
    authenticator: Authenticator
    keys: KeyStore
    _services: dict[type, Any] = field(default_factory=dict)

    # Ports are often Protocols: mypy refuses abstract classes as type[T] arguments, so the
    # port parameter is typed loosely and the result cast.
    def provide(self, port: Any, implementation: Any) -> None:
        """Register the implementation of a port (a Protocol or class)."""
        self._services[port] = implementation

    def get(self, port: type[T] | Any) -> T:
        """The implementation registered for a port; KeyError if the component is not wired."""
        return cast(T, self._services[port])

    def find(self, port: type[T] | Any) -> T | None:
        """The implementation registered for a port, or None."""
        return cast("T | None", self._services.get(port))


def app_context(app: Flask | None = None) -> AppContext:
    """The AppContext of the given or current app."""
    return cast(AppContext, (app or current_app).extensions["genomseq"])
