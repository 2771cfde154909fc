"""Maintenance tools of the search core (registry generation)."""
