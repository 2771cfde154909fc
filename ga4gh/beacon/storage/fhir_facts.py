"""ClinicalFacts over the FHIR server's tables (``fhir_resource`` / ``fhir_resource_version``,
content as FHIR R4 JSON): sex from Patient.gender, birth date from Patient.birthDate,
ICD-10-GM diagnoses from Condition.code, HPO phenotypes from Condition.code and
Observation.code/valueCodeableConcept. Read-only; never imports the FHIR server's code.

A donor is found by Patient.identifier (with the configured pseudonym system, or any system)
or by the Patient's logical id equal to the pseudonym.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, text

from ga4gh.beacon.core.filters import GENDER_TO_NCIT, icd10gm_term
from ga4gh.beacon.core.ports import ClinicalFact

ICD10GM_SYSTEMS = ("http://fhir.de/CodeSystem/bfarm/icd-10-gm",
                   "http://fhir.de/CodeSystem/dimdi/icd-10-gm")
HPO_SYSTEMS = ("http://human-phenotype-ontology.org", "http://purl.obolibrary.org/obo/hp.owl",
               "https://hpo.jax.org/app/")
_NOT_TRUE = {"refuted", "entered-in-error"}


def _codings(concept: Any) -> Iterator[dict[str, Any]]:
    if isinstance(concept, dict):
        for c in concept.get("coding") or ():
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                yield c


def _hpo(code: str) -> str | None:
    code = code.strip().upper().replace("_", ":")
    if not code.startswith("HP:"):
        code = "HP:" + code
    return code if len(code) == 10 and code[3:].isdigit() else None


class FhirClinicalFacts:
    """ClinicalFacts over the current versions of Patient, Condition and Observation."""

    def __init__(self, engine: Engine, pseudonym_system: str = "") -> None:
        self.engine = engine
        self.pseudonym_system = pseudonym_system

    def _current(self, conn: Any, res_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        rows = conn.execute(text(
            "SELECT r.res_id, v.content FROM fhir_resource r JOIN fhir_resource_version v "
            "ON v.resource_id = r.id AND v.version_id = r.version_id "
            "WHERE r.res_type = :t AND r.deleted = :no AND v.content IS NOT NULL"),
            {"t": res_type, "no": False})
        for res_id, content in rows:
            try:
                yield res_id, json.loads(bytes(content))
            except (ValueError, TypeError):
                continue

    def facts(self, pseudonyms: Sequence[str]) -> dict[str, ClinicalFact]:
        wanted = set(pseudonyms)
        patients: dict[str, str] = {}  # Patient id -> pseudonym
        sex: dict[str, str | None] = {}
        birth: dict[str, dt.date | None] = {}
        with self.engine.connect() as conn:
            for res_id, pat in self._current(conn, "Patient"):
                found = res_id if res_id in wanted else None
                for ident in pat.get("identifier") or ():
                    if not isinstance(ident, dict) or ident.get("value") not in wanted:
                        continue
                    if not self.pseudonym_system or ident.get("system") == self.pseudonym_system:
                        found = ident["value"]
                if found is None:
                    continue
                patients[res_id] = found
                sex[found] = GENDER_TO_NCIT.get(str(pat.get("gender", "")))
                try:
                    bd = pat.get("birthDate")
                    birth[found] = dt.date.fromisoformat(bd) if isinstance(bd, str) and \
                        len(bd) == 10 else None
                except ValueError:
                    birth[found] = None
            diagnoses: dict[str, set[str]] = {p: set() for p in patients.values()}
            phenotypes: dict[str, set[str]] = {p: set() for p in patients.values()}
            if patients:
                for res_type in ("Condition", "Observation"):
                    for _id, res in self._current(conn, res_type):
                        ref = (res.get("subject") or {}).get("reference", "")
                        pseudonym = patients.get(ref.removeprefix("Patient/"))
                        if pseudonym is None:
                            continue
                        self._collect(res_type, res, diagnoses[pseudonym], phenotypes[pseudonym])
        return {p: ClinicalFact(sex=sex.get(p), birth_date=birth.get(p),
                                diagnoses=tuple(sorted(diagnoses[p])),
                                phenotypes=tuple(sorted(phenotypes[p])))
                for p in patients.values()}

    @staticmethod
    def _collect(res_type: str, res: dict[str, Any], diagnoses: set[str],
                 phenotypes: set[str]) -> None:
        if res_type == "Condition":
            status = {c.get("code") for c in _codings(res.get("verificationStatus"))}
            if status & _NOT_TRUE:
                return
            concepts = [res.get("code")]
        else:
            if res.get("status") in ("entered-in-error", "cancelled"):
                return
            # An HPO-coded Observation records the feature as present unless its value says
            # otherwise (valueBoolean false, interpretation NEG).
            if res.get("valueBoolean") is False:
                return
            interp = {c.get("code") for i in res.get("interpretation") or ()
                      for c in _codings(i)}
            if "NEG" in interp:
                return
            concepts = [res.get("code"), res.get("valueCodeableConcept")]
        for concept in concepts:
            for c in _codings(concept):
                system = c.get("system", "")
                if system in ICD10GM_SYSTEMS and res_type == "Condition":
                    term = icd10gm_term(c["code"])
                    if term:
                        diagnoses.add(term)
                elif system in HPO_SYSTEMS:
                    term = _hpo(c["code"])
                    if term:
                        phenotypes.add(term)
