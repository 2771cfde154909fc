"""Alembic migrations of the FHIR server's tables (version table alembic_version_fhir)."""
