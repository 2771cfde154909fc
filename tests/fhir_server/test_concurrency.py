"""Race safety: concurrent conditional creates and updates on one resource."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from config.context import AppContext
from fhir_server.core.service import FhirService
from tests.fhir_server.conftest import patient

IDENT = {"system": "https://hospital.example/mrn", "value": "race-1"}


def test_concurrent_conditional_creates_leave_one_resource(ctx: AppContext) -> None:
    service = ctx.get(FhirService)
    barrier = threading.Barrier(8)

    def create(_: int) -> tuple[str, int]:
        barrier.wait()
        result = service.create(
            "Patient", patient(identifier=[IDENT]), "identifier=https://hospital.example/mrn|race-1"
        )
        return result.version.res_id, result.status

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    ids = {rid for rid, _ in results}
    assert len(ids) == 1
    assert sorted(status for _, status in results) == [200] * 7 + [201]


def test_concurrent_updates_get_distinct_versions(ctx: AppContext) -> None:
    service = ctx.get(FhirService)
    service.update("Patient", "p1", patient(id="p1"))
    barrier = threading.Barrier(6)

    def update(i: int) -> int:
        barrier.wait()
        body = patient(id="p1", birthDate=f"19{50 + i}")
        return service.update("Patient", "p1", body).version.version_id

    with ThreadPoolExecutor(6) as pool:
        versions = sorted(pool.map(update, range(6)))
    assert versions == [2, 3, 4, 5, 6, 7]
    assert service.read("Patient", "p1").version_id == 7


def test_concurrent_update_as_create_of_one_id(ctx: AppContext) -> None:
    service = ctx.get(FhirService)
    barrier = threading.Barrier(4)

    def put(i: int) -> int:
        barrier.wait()
        return service.update("Patient", "new", patient(id="new", birthDate=f"198{i}")).status

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(put, range(4)))
    assert statuses == [200, 200, 200, 201]
