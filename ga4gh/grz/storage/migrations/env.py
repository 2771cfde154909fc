"""Alembic environment of the grz component."""

from common.migrations import run_env

run_env()
