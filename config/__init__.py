"""Composition root: settings, the Flask app factory, CLI and logging."""

from config.app import create_app
from config.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]
