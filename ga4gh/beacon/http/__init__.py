"""Beacon v2 HTTP room: Flask blueprint under /ga4gh/beacon/v2 and the error mapping."""
