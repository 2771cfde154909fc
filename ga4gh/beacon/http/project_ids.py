"""Researchers see Beacon individuals under their project's ids, never the genome data
center's pseudonyms (issue #6: "Researchers see resources under their project's pseudonyms
..., never the node's internal pseudonyms"; Beacon v2 default model ``individuals.id`` and
the ``individualId`` of biosamples, analyses, runs and ``caseLevelData``).

An individual's id in the index is the donor's pseudonym in the GRZ's domain. For a
researcher (a broker token or passport of a person) every such id in an answer is replaced
by its AES-SIV encryption under a key of the research project the request acts for (the
same per-project construction as the FHIR project view, ``fhir_server.core.project_view``:
deterministic within a project, unlinkable across projects, mapped back on input). An id the
researcher sends that does not decrypt under their project matches nothing. Machine
clients, static operator tokens and anonymous callers (boolean/count tiers, no records) are
not affected.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import request

from config.context import app_context
from fhir_server.core.project_view import IdCipher, IdNotShareable, project_key

SECRET_NAME = "beacon-project-view"  # noqa: S105 - the name of a key-store secret
ID_TYPE = "Individual"  # associated data of the encryption
# Matches no individual: what an id that is not one of the project's maps back to.
NO_INDIVIDUAL = "-"


def project_cipher(principal: Any) -> IdCipher | None:
    """The id cipher of a researcher's request; None for callers that see stored ids."""
    from ga4gh.passport.core.clearinghouse import TokenPrincipal
    from ga4gh.passport.core.projects import PROJECT_HEADER, select_project
    from ga4gh.passport.enforcement import Enforcer

    if not isinstance(principal, TokenPrincipal) or principal.system or principal.unrestricted:
        return None
    ctx = app_context()
    enforcer = ctx.find(Enforcer)
    grants: list[Any] = enforcer.active_grants(principal) if enforcer is not None else []
    project = select_project(grants, request.headers.get(PROJECT_HEADER))
    if project is None:  # no project's grant: no id decodes, none is shown in stored form
        return IdCipher(secrets.token_bytes(64))
    return IdCipher(project_key(ctx.keys.secret(SECRET_NAME, 64), project))


def individual_in(cipher: IdCipher, value: str) -> str:
    """The stored id behind a project id (NO_INDIVIDUAL if it is not one)."""
    return cipher.decode(ID_TYPE, value) or NO_INDIVIDUAL


def _out(cipher: IdCipher, value: str) -> str:
    try:
        return cipher.encode(ID_TYPE, value)
    except IdNotShareable:  # too long to encrypt into an id: shown as no id at all
        return NO_INDIVIDUAL


def ids_out(cipher: IdCipher, doc: Any, individuals: bool) -> Any:
    """Rewrite an answer in place: every ``individualId`` and, when the results are
    individuals, their ``id``."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "individualId" and isinstance(value, str):
                doc[key] = _out(cipher, value)
            else:
                ids_out(cipher, value, individuals)
        if individuals:
            for result_set in (doc.get("response") or {}).get("resultSets", []) \
                    if isinstance(doc.get("response"), dict) else []:
                for result in result_set.get("results", []) or []:
                    if isinstance(result, dict) and isinstance(result.get("id"), str):
                        result["id"] = _out(cipher, result["id"])
    elif isinstance(doc, list):
        for item in doc:
            ids_out(cipher, item, individuals)
    return doc
