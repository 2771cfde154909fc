"""What the researcher filter costs on a FHIR search (p50 and p90, in-process).

    PYTHONPATH=. python bench/passport/bench_search.py [--n 50] [--resources 2000]

One app with authorization on (temporary SQLite database, decision audit ``sync``):
``--resources`` Observations over 200 patients, half tagged with dataset ds-1 and half with
ds-2; 90 % of the patients consent. A machine client (``system/Observation.rs``, no filter)
and a researcher (grant on ds-1, consent per patient) run the same searches: one page of 50,
the same with ``_total=accurate`` (every match judged) and a page with ``_include``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.passport.bench_http import Grants
from config.app import create_app
from config.cli import upgrade_all
from config.context import app_context
from config.settings import Settings
from fhir_server.core.service import FhirService
from ga4gh.passport.broker import Broker
from ga4gh.passport.enforcement import ConsentEvaluator
from ga4gh.passport.integrations import DATASET_TAG_SYSTEM
from ga4gh.passport.storage.sql import PassportStore
from platform_provider.ports import GrantDirectory


class Consent:
    """Nine patients in ten consent."""

    def allows(self, domain: str | None, patient: str, purpose: str, at: datetime) -> bool:
        return not patient.endswith("0")


def _obs(i: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/p{i % 200}"},
            "meta": {"tag": [{"system": DATASET_TAG_SYSTEM, "code": f"ds-{1 + i % 2}"}]}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--resources", type=int, default=2000)
    args = parser.parse_args()
    base = Settings()
    settings = replace(base, data_dir=Path(tempfile.mkdtemp()), authorization="on",
                       public_base_url="https://bench.example", log_level="WARNING")
    app = create_app(settings)
    ctx = app_context(app)
    upgrade_all(ctx)
    service: FhirService = ctx.get(FhirService)
    for p in range(200):
        service.update("Patient", f"p{p}", {"resourceType": "Patient", "id": f"p{p}", "meta": {
            "tag": [{"system": DATASET_TAG_SYSTEM, "code": f"ds-{1 + p % 2}"}]}})
    for i in range(args.resources):
        service.create("Observation", _obs(i))
    store: PassportStore = ctx.get(PassportStore)
    user = store.create_user("ada", "correct horse battery staple")
    ctx.provide(GrantDirectory, Grants(user.subject))
    ctx.provide(ConsentEvaluator, Consent())
    broker: Broker = ctx.get(Broker)
    node = broker.access_token(client_id="node", subject="node",
                               scope="system/Observation.rs system/Patient.rs",
                               grant_type="client_credentials")
    store.record_access_token(node.jti, "node", "node", node.expires_at, None)
    tok = broker.access_token(client_id="app", subject=user.subject, scope="user/*.rs",
                              grant_type="authorization_code")
    store.record_access_token(tok.jti, "app", user.subject, tok.expires_at, None)
    client = app.test_client()
    searches = {"page of 50": "/fhir/Observation?_count=50",
                "_total=accurate": "/fhir/Observation?_count=50&_total=accurate",
                "_include subject": "/fhir/Observation?_count=50&_include=Observation:subject"}
    for name, url in searches.items():
        for who, token in (("machine client", node.token), ("researcher", tok.token)):
            headers = {"Authorization": "Bearer " + token}
            for _ in range(5):
                assert client.get(url, headers=headers).status_code == 200
            times = []
            resp: Any = None
            for _ in range(args.n):
                start = time.perf_counter()
                resp = client.get(url, headers=headers)
                times.append((time.perf_counter() - start) * 1000)
                assert resp.status_code == 200, resp.json
            q = statistics.quantiles(times, n=10)
            print(f"{name:<17} {who:<15} p50 {statistics.median(times):7.2f} ms"
                  f"   p90 {q[8]:7.2f} ms   entries {len(resp.json.get('entry', []))}")


if __name__ == "__main__":
    main()
