"""Alembic revisions of the genomics catalogue (version table alembic_version_genomics)."""
