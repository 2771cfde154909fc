"""Result sets and latencies of genomseq search beside Medplum's FHIR router.

Loads the hospital and practitioner bundles and the first N Synthea patients into a fresh
SQLite database (same loader as search_bench.py) and into Medplum's in-memory repository
(bench/search/medplum/compare.mjs), runs the fixed query list below on both and compares the
sets of matching ids (order-insensitive: Medplum's default order differs).

    (cd bench/search/medplum && npm install)
    PYTHONPATH=. python bench/search/compare_medplum.py /work/shared/data/fhir/synthea --patients 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl

from sqlalchemy import text

from common.db import make_engine
from fhir_server.storage.search_sql import build_searcher

HERE = Path(__file__).resolve().parent


def queries(engine) -> list[str]:  # noqa: ANN001
    """The fixed query list, filled with ids and values taken from the loaded data."""
    with engine.connect() as conn:
        pats = [r[0] for r in conn.execute(text(
            "SELECT res_id FROM fhir_resource WHERE res_type='Patient' ORDER BY id LIMIT 3"))]
        org = conn.execute(text(
            "SELECT res_id FROM fhir_resource WHERE res_type='Organization' ORDER BY id LIMIT 1"
        )).scalar_one()
    p0, p1, p2 = (pats + pats + pats)[:3]
    loinc = "http://loinc.org"
    return [
        "Patient?gender=male", "Patient?gender=female", "Patient?gender:not=male",
        "Patient?birthdate=ge1970", "Patient?birthdate=lt1950", "Patient?birthdate=gt1960-06-15",
        "Patient?birthdate=le1980-01-01", f"Patient?_id={p0},{p1}", "Patient?active=true",
        "Patient?deceased=true", "Patient?address-state=Massachusetts",
        "Patient?name=a", "Patient?family=s", "Patient?given=j", "Patient?address-city=b",
        "Patient?name:contains=son", "Patient?birthdate:missing=true",
        f"Observation?patient=Patient/{p0}", f"Observation?subject=Patient/{p1}",
        f"Observation?code={loinc}|8302-2", "Observation?code=8867-4",
        f"Observation?code={loinc}|8867-4&patient=Patient/{p0}",
        "Observation?code=8302-2,29463-7", "Observation?category=vital-signs",
        "Observation?category=laboratory", "Observation?status=final",
        "Observation?value-quantity=gt100", "Observation?value-quantity=lt5",
        "Observation?value-quantity=ge70&value-quantity=le80",
        "Observation?value-quantity=gt100|http://unitsofmeasure.org|mg/dL",
        "Observation?date=ge2018-01-01", "Observation?date=lt2000", "Observation?date=2019",
        "Observation?date=gt2015-06-01&date=lt2016-06-01",
        "Observation?value-quantity:missing=true",
        f"Observation?code={loinc}|8480-6", "Observation?component-code=8480-6",
        f"Condition?patient=Patient/{p0}", "Condition?clinical-status=active",
        "Condition?onset-date=ge2010", "Condition?code=http://snomed.info/sct|44054006",
        "Condition?abatement-date:missing=true", f"Encounter?patient=Patient/{p2}",
        "Encounter?class=AMB", "Encounter?date=ge2019", "Encounter?status=finished",
        f"Encounter?service-provider=Organization/{org}",
        "MedicationRequest?status=active", "MedicationRequest?intent=order",
        "MedicationRequest?authoredon=ge2019-01-01", f"Procedure?patient=Patient/{p1}",
        "Procedure?date=lt2010", "Immunization?vaccine-code=140", "Immunization?date=ge2019",
        "DiagnosticReport?category=LAB", "DiagnosticReport?code=http://loinc.org|51990-0",
        "Claim?use=claim", "CarePlan?status=active", "Organization?name=hospital",
        "Practitioner?name=dr", "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999999619",
        "Location?address-city=boston", "AllergyIntolerance?criticality=low",
        "Observation?_lastUpdated=ge2020-01-01", "Encounter?reason-code:missing=false",
    ]


def ours(searcher, q: str) -> tuple[list[str], float]:  # noqa: ANN001
    res_type, _, qs = q.partition("?")
    parsed = searcher.parser.parse((res_type,), parse_qsl(qs))
    parsed.count = 1000
    ids: list[str] = []
    t = time.perf_counter()
    while True:
        page = searcher.search(parsed)
        ids.extend(m.res_id for m in page.matches)
        if not page.next_cursor:
            break
        parsed.cursor = page.next_cursor
    return sorted(ids), (time.perf_counter() - t) * 1000


def main() -> None:
    import sys
    sys.path.insert(0, str(HERE))
    from search_bench import _bundles, _prepare, _read, load

    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--patients", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    url = f"sqlite:///{work}/cmp.sqlite"
    load(url, args.root, 1, args.patients)
    shared, patients = _bundles(args.root)
    ident_map: dict[str, str] = {}
    with open(work / "resources.ndjson", "w") as out:
        for f in shared + patients[:args.patients]:
            for res in _prepare(_read(f), ident_map):
                out.write(json.dumps(res) + "\n")
    engine = make_engine(url)
    searcher = build_searcher(engine, b"x" * 32)
    qs = queries(engine)
    (work / "queries.txt").write_text("\n".join(qs) + "\n")
    proc = subprocess.run(["node", str(HERE / "medplum" / "compare.mjs"),
                           str(work / "resources.ndjson"), str(work / "queries.txt")],
                          cwd=HERE / "medplum", capture_output=True, text=True, check=True)
    peer = {d["query"]: d for d in map(json.loads, proc.stdout.splitlines())}
    agree, ours_ms, peer_ms = 0, [], []
    for q in qs:
        ids, ms = ours(searcher, q)
        ours_ms.append(ms)
        p = peer[q]
        if "error" in p:
            print(f"PEER ERROR  {q}: {p['error']}")
            continue
        peer_ms.append(p["ms"])
        if ids == p["ids"]:
            agree += 1
            print(f"agree       {q}: {len(ids)}")
        else:
            only_ours = sorted(set(ids) - set(p["ids"]))[:3]
            only_peer = sorted(set(p["ids"]) - set(ids))[:3]
            print(f"DIFFER      {q}: ours {len(ids)} medplum {len(p['ids'])} "
                  f"only ours {only_ours} only medplum {only_peer}")
    print(f"{agree}/{len(qs)} queries agree; median latency genomseq "
          f"{statistics.median(ours_ms):.1f} ms, medplum (in-memory) "
          f"{statistics.median(peer_ms):.1f} ms")


if __name__ == "__main__":
    main()
