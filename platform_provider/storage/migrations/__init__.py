"""Alembic migrations of the platform provider (version table alembic_version_platform)."""
