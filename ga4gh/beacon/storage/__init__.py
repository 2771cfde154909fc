"""Beacon storage room: SQL index (SQLite and PostgreSQL), VCF loader, FHIR facts adapter."""
