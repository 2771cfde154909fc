"""`serve --demo` seeding of the genomics component."""

from __future__ import annotations

from flask.testing import FlaskClient

from config.context import AppContext
from config.wiring.genomics import seed_demo
from ga4gh.catalogue.ports import GenomicCatalogue


def test_seed_demo_is_idempotent_and_serves(ctx: AppContext, client: FlaskClient) -> None:
    examples = seed_demo(ctx)
    assert examples and all("{base}" in e for e in examples)
    seed_demo(ctx)  # a second `serve --demo` keeps what is there
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    try:
        assert [o.id for o in catalogue.list(dataset="demo")] == [
            "demo-bam", "demo-bcf", "demo-cram", "demo-ref", "demo-vcf"]
        resp = client.get("/ga4gh/htsget/v1/reads/demo-bam?referenceName=chr1&start=0&end=99")
        assert resp.status_code == 200
        assert client.get("/ga4gh/drs/v1/objects/demo-bcf").status_code == 200
    finally:
        for obj in catalogue.list(dataset="demo"):
            catalogue.remove(obj.id, force=True)
