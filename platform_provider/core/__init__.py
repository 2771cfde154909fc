"""Platform provider core: pure domain logic (no framework, no SQL)."""
