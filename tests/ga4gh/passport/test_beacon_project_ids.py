"""Researchers see Beacon individuals under their project's ids (issue #6), never the genome
data center's pseudonyms; machine clients see stored ids."""

from __future__ import annotations

import copy
from typing import Any

from ga4gh.beacon.http.project_ids import (
    NO_INDIVIDUAL,
    ids_out,
    individual_in,
    project_cipher,
)
from tests.ga4gh.passport.conftest import World
from tests.ga4gh.passport.test_project_view import _researchers

DONOR = "k1." + "a" * 32
ANSWER: dict[str, Any] = {"response": {"resultSets": [{"id": "ds-1", "results": [
    {"id": DONOR, "sex": {"id": "NCIT:C16576"}},
    {"id": "k1." + "b" * 32, "caseLevelData": [{"individualId": DONOR,
                                                 "biosampleId": "bs-1"}]}]}]}}


def _cipher(world: World, token: str) -> Any:
    principal = world.ctx.authenticator.authenticate(f"Bearer {token}")
    with world.app.test_request_context("/ga4gh/beacon/v2/individuals"):
        return project_cipher(principal)


def test_researchers_of_two_projects_see_unlinkable_ids_that_map_back(world: World) -> None:
    ada, bob = _researchers(world)
    seen = []
    for token in (ada, bob):
        cipher = _cipher(world, token)
        assert cipher is not None
        doc = ids_out(cipher, copy.deepcopy(ANSWER), individuals=True)
        results = doc["response"]["resultSets"][0]["results"]
        assert DONOR not in str(doc)
        assert results[1]["caseLevelData"][0]["individualId"] == results[0]["id"]
        assert results[1]["caseLevelData"][0]["biosampleId"] == "bs-1"
        assert individual_in(cipher, results[0]["id"]) == DONOR
        seen.append((cipher, results[0]["id"]))
    (ada_cipher, ada_id), (bob_cipher, bob_id) = seen
    assert ada_id != bob_id
    # Another project's id, a stored pseudonym or garbage match no individual.
    for value in (bob_id, DONOR, "x"):
        assert individual_in(ada_cipher, value) == NO_INDIVIDUAL


def test_only_individual_results_have_their_id_replaced(world: World) -> None:
    ada, _ = _researchers(world)
    cipher = _cipher(world, ada)
    doc = ids_out(cipher, copy.deepcopy(ANSWER), individuals=False)
    assert doc["response"]["resultSets"][0]["results"][0]["id"] == DONOR  # e.g. a variant id
    assert doc["response"]["resultSets"][0]["results"][1]["caseLevelData"][0][
        "individualId"] != DONOR


def test_machine_clients_and_anonymous_callers_see_stored_ids(world: World) -> None:
    node = world.node_token("system/Observation.rs").json["access_token"]
    assert _cipher(world, node) is None
    with world.app.test_request_context("/ga4gh/beacon/v2/individuals"):
        assert project_cipher(None) is None
