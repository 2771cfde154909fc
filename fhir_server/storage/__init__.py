"""Storage adapters of the FHIR server (one SQL adapter for SQLite and PostgreSQL)."""
