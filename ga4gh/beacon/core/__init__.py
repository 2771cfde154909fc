"""Beacon v2 logic without I/O: request parsing, access policy, response documents."""
