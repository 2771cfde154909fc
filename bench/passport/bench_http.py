"""What authorization adds to a FHIR read and an htsget ticket (p50 and p90, in-process).

    PYTHONPATH=. python bench/passport/bench_http.py [--n 300] [--bam PATH]

The ticket is for the NA12878 slice in ../shared/data (``referenceName=11&start=5015000&
end=5050000``), catalogued with a dataset and a donor pseudonym.

Two apps on temporary SQLite databases: authorization off (development principal) and on
(a researcher's broker access token; grant on the dataset; consent allowed), with decisions
audited synchronously or in batches. The difference is token verification + revocation
lookup + grant lookup + consent + the audit append; a researcher reads by the id the
project view gives the resource (fhir_server.core.project_view). ``on/async+pseudonym``
reads an Observation whose subject carries a pseudonymized identifier, so the answer also
costs one trust center translation into the project's domain (in-process, SQLite).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.app import create_app
from config.cli import upgrade_all
from config.context import app_context
from config.settings import Settings
from fhir_server.core.project_view import IdCipher, project_key
from fhir_server.http.project_view import SECRET_NAME
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.passport.broker import Broker
from ga4gh.passport.enforcement import ConsentEvaluator
from ga4gh.passport.integrations import DATASET_TAG_SYSTEM
from ga4gh.passport.storage.sql import PassportStore
from platform_provider.ports import Grant, GrantDirectory

OBS = {"resourceType": "Observation", "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
       "subject": {"reference": "Patient/p1"},
       "meta": {"tag": [{"system": DATASET_TAG_SYSTEM, "code": "ds-1"}]}}

TICKET_URL = "/ga4gh/htsget/v1/reads/na12878?referenceName=11&start=5015000&end=5050000"


class Grants:
    def __init__(self, subject: str) -> None:
        now = datetime.now(UTC)
        self.grant = Grant("g1", subject, "ds-1", "DUO:0000006", "a", now - timedelta(days=1),
                           now + timedelta(days=1))

    def active_grants(self, subject: str, at: datetime) -> list[Grant]:
        return [self.grant] if subject == self.grant.subject else []


class Consent:
    def allows(self, domain: str | None, patient: str, purpose: str, at: datetime) -> bool:
        return True


def timed(fn: Callable[[], int], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        status = fn()
        out.append((time.perf_counter() - start) * 1000)
        assert status == 200, status
    return out


def app_for(authorization: str, audit: str = "sync") -> tuple:
    tmp = Path(tempfile.mkdtemp())
    base = Settings()
    settings = replace(base, data_dir=tmp, authorization=authorization,
                       public_base_url="https://bench.example", log_level="WARNING",
                       passport=replace(base.passport, audit_decisions=audit))
    app = create_app(settings)
    ctx = app_context(app)
    upgrade_all(ctx)
    return app, ctx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--bam", type=Path, default=Path(__file__).resolve().parents[3]
                        / "shared/data/genomics/bam/htsnexus_test_NA12878.bam")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    tickets: dict[str, list[float]] = {}
    for mode in ("off", "on/sync", "on/async", "on/async+pseudonym"):
        app, ctx = app_for(mode[:3].strip("/"),
                           mode[3:].split("+")[0].strip("/") or "sync")
        client = app.test_client()
        headers = {"Content-Type": "application/fhir+json"}
        if mode != "off":
            store = ctx.get(PassportStore)
            user = store.create_user("ada", "correct horse battery staple")
            ctx.provide(GrantDirectory, Grants(user.subject))
            ctx.provide(ConsentEvaluator, Consent())
            broker = ctx.get(Broker)
            node = broker.access_token(client_id="node", subject="node",
                                       scope="system/Observation.cruds",
                                       grant_type="client_credentials")
            store.record_access_token(node.jti, "node", "node", node.expires_at, None)
            tok = broker.access_token(client_id="app", subject=user.subject,
                                      scope="user/*.rs", grant_type="authorization_code")
            store.record_access_token(tok.jti, "app", user.subject, tok.expires_at, None)
            create_headers = {**headers, "Authorization": "Bearer " + node.token}
            read_headers = {"Authorization": "Bearer " + tok.token}
        else:
            create_headers, read_headers = headers, {}
        body = dict(OBS)
        if mode.endswith("+pseudonym"):
            body["subject"] = {"reference": "Patient/p1",
                               "identifier": {"system": "urn:mrn", "value": "4711"}}
        created = client.post("/fhir/Observation", json=body, headers=create_headers)
        assert created.status_code == 201, created.json
        rid = created.json["id"]
        if mode != "off":
            # The researcher reads by the project view's id of the resource (project "a").
            rid = IdCipher(project_key(ctx.keys.secret(SECRET_NAME), "a")).encode(
                "Observation", rid)
        url = f"/fhir/Observation/{rid}"
        def read(client: Any = client, url: str = url, headers: Any = read_headers) -> int:
            return int(client.get(url, headers=headers).status_code)

        timed(read, 30)  # warm up
        results[mode] = timed(read, args.n)

        ctx.get(GenomicCatalogue).add(  # type: ignore[type-abstract]
            "na12878", args.bam, dataset="ds-1", donor_pseudonym="d1")

        def ticket(client: Any = client, headers: Any = read_headers) -> int:
            return int(client.get(TICKET_URL, headers=headers).status_code)

        timed(ticket, 30)
        tickets[mode] = timed(ticket, args.n)
    for label, table in (("FHIR read", results), ("htsget ticket", tickets)):
        for mode, values in table.items():
            q = statistics.quantiles(values, n=10)
            print(f"{label}, authorization {mode:<18} p50 {statistics.median(values):6.2f} ms"
                  f"   p90 {q[8]:6.2f} ms")
        for mode in ("on/sync", "on/async", "on/async+pseudonym"):
            added = statistics.median(table[mode]) - statistics.median(table["off"])
            print(f"{label}: authorization adds, audit {mode[3:]:<15}   p50 {added:6.2f} ms")


if __name__ == "__main__":
    main()
