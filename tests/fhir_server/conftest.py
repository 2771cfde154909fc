"""Fixtures for FHIR tests: resources built with fhir.resources models, a live server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from flask import Flask
from werkzeug.serving import make_server

FHIR_JSON = "application/fhir+json"


def patient(**fields: Any) -> dict[str, Any]:
    """A valid Patient as JSON (validated by the fhir.resources model)."""
    base: dict[str, Any] = {"gender": "female", "birthDate": "1970-05"}
    base.update(fields)
    return Patient(**base).model_dump(mode="json", exclude_none=True)


def observation(subject: str, value: float = 1.0, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": subject},
        "valueQuantity": {
            "value": value,
            "unit": "cm",
            "system": "http://unitsofmeasure.org",
            "code": "cm",
        },
    }
    base.update(fields)
    return Observation(**base).model_dump(mode="json", exclude_none=True)


@pytest.fixture()
def live_server(app: Flask) -> Iterator[str]:
    """The test app served on a free loopback port; yields the FHIR base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir"
    finally:
        server.shutdown()
        thread.join(5)
