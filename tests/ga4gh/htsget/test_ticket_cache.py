"""Reuse of serialised tickets (no per-request signing or JSON building for a repeated
query) stays correct: same bytes while the URLs' expiry step lasts, new URLs after it, new
tickets when the object changes, and every URL still resolves."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from config.context import AppContext
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.htsget import http as htsget_http
from ga4gh.htsget.http import url_expiry
from tests.ga4gh.genomic_data import GenomicFiles
from tests.ga4gh.htsget.helpers import BASE, resolve

QUERY = "?referenceName=chr1&start=1000&end=5000"


@pytest.mark.parametrize("ttl", [1, 59, 60, 600, 3600, 86400])
def test_url_expiry_stays_within_the_ttl(ttl: int) -> None:
    for now in (1_700_000_000.0, 1_700_000_012.7, 1_700_000_059.999):
        expires = url_expiry(now, ttl)
        step = max(1, min(60, ttl // 60))
        assert now + ttl - step < expires <= now + ttl


def _expiries(body: dict) -> set[int]:
    return {int(parse_qs(urlsplit(u["url"]).query)["expires"][0])
            for u in body["htsget"]["urls"] if not u["url"].startswith("data:")}


def test_repeated_ticket_is_reused_and_resolves(
    client: FlaskClient, catalogued: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    genomic_files: GenomicFiles
) -> None:
    now = [1_900_000_000.0]
    monkeypatch.setattr(htsget_http.time, "time", lambda: now[0])
    # The whole file: a signed byte range between inline header and EOF.
    first = client.get(f"{BASE}/reads/reads-bam")
    assert first.status_code == 200
    assert _expiries(first.get_json()) == {url_expiry(now[0], 3600)}
    now[0] += 1
    again = client.get(f"{BASE}/reads/reads-bam")
    assert again.data == first.data
    now[0] += 60
    later = client.get(f"{BASE}/reads/reads-bam")
    assert later.data != first.data
    assert _expiries(later.get_json()) == {url_expiry(now[0], 3600)}
    monkeypatch.undo()
    # Reused bodies resolve to the file, like freshly built ones.
    fresh = client.get(f"{BASE}/reads/reads-bam")
    assert fresh.data == client.get(f"{BASE}/reads/reads-bam").data
    assert resolve(client, fresh.get_json()) == genomic_files.bam.read_bytes()


def test_a_replaced_object_gets_new_tickets(
    client: FlaskClient, ctx: AppContext, genomic_files: GenomicFiles
) -> None:
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    catalogue.add("swap", genomic_files.bam, dataset="ds1")
    try:
        bam = client.get(f"{BASE}/reads/swap{QUERY}")
        assert bam.get_json()["htsget"]["format"] == "BAM"
        catalogue.remove("swap")
        gone = client.get(f"{BASE}/reads/swap{QUERY}")
        assert gone.status_code == 404
        catalogue.add("swap", genomic_files.cram, dataset="ds1")
        cram = client.get(f"{BASE}/reads/swap?format=CRAM&referenceName=chr1&start=1000&end=5000")
        assert cram.status_code == 200 and cram.get_json()["htsget"]["format"] == "CRAM"
        assert client.get(f"{BASE}/reads/swap{QUERY}").status_code == 400
    finally:
        catalogue.remove("swap")
