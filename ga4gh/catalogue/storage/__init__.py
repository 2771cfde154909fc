"""Adapters of the catalogue: SQL records, object stores (local files, S3)."""
