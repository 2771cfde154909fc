"""fhirstarter (PyPI), the closest Python peer, as a FHIR server for the create/read benchmark.

fhirstarter is a framework: storage is the implementer's. This app stores resources as JSON in
SQLite (WAL), like genomseq's embedded default, and validates with the same fhir.resources
models. Run: ``<venv>/bin/uvicorn peer_fhirstarter:app --workers 2 --port PORT``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from uuid import uuid4

from fhir.resources.observation import Observation
from fhir.resources.patient import Patient
from fhirstarter import FHIRProvider, FHIRStarter, InteractionContext
from fhirstarter.exceptions import FHIRResourceNotFoundError

DB = os.environ.get("PEER_DB", "/tmp/fhirstarter-peer.sqlite")
_local = threading.local()


def _conn() -> sqlite3.Connection:
    if not hasattr(_local, "conn"):
        conn = sqlite3.connect(DB, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS res (t TEXT, id TEXT, body TEXT, PRIMARY KEY (t, id))"
        )
        _local.conn = conn
    return _local.conn


app = FHIRStarter(title="fhirstarter peer")
provider = FHIRProvider()


def _register(model: type) -> None:
    name = model.__name__

    @provider.create(model)
    async def create(context: InteractionContext, resource) -> str:  # type: ignore[no-untyped-def]
        rid = str(uuid4())
        resource.id = rid
        _conn().execute("INSERT INTO res VALUES (?, ?, ?)", (name, rid, resource.model_dump_json()))
        return rid

    @provider.read(model)
    async def read(context: InteractionContext, id_: str):  # type: ignore[no-untyped-def]
        row = _conn().execute("SELECT body FROM res WHERE t=? AND id=?", (name, id_)).fetchone()
        if row is None:
            raise FHIRResourceNotFoundError
        return model.model_validate_json(row[0])

    create.__annotations__["resource"] = model
    read.__annotations__["return"] = model


for _model in (Patient, Observation):
    _register(_model)

app.add_providers(provider)
