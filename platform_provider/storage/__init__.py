"""Platform provider storage adapters (one SQL adapter for SQLite and PostgreSQL)."""
