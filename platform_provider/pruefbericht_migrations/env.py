"""Alembic environment of the platform provider's Prüfbericht register."""

from common.migrations import run_env

run_env()
