"""Public application register: HTML without JavaScript, search, JSON, signatures, privacy."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from config.context import AppContext
from platform_provider.core.register import canonical_json
from tests.platform_provider.conftest import (
    accounts,
    application_body,
    committee_member,
    ok,
    run_to_active,
)

PERSONAL = (
    "Dr. Ada Lovelace",
    "Researcher 0",
    "Researcher 1",
    "committee-1",
    "EK-HD S-123/2026",
)


@pytest.fixture()
def entries(client: FlaskClient, datasets: None) -> dict[str, str]:
    """One active, one rejected, one draft application; results reported on the active one."""
    ada, bob = accounts(client, "ada", "bob")
    active = run_to_active(client, [ada, bob])
    ok(
        client.post(
            f"/platform/applications/{active}/results",
            json={
                "title": "Recurrent variants",
                "reference": "https://doi.org/10.1000/abc",
                "year": 2026,
            },
        )
    )
    rejected = ok(
        client.post(
            "/platform/applications",
            json=application_body(
                [ada],
                institution="Charité Berlin",
                project_title="Ancestry of rare variants",
                purpose={"category": "POA"},
                datasets=["ds-poa"],
            ),
        ),
        201,
    )["application_id"]
    for step in ("submit", "review"):
        ok(client.post(f"/platform/applications/{rejected}/{step}"))
    ok(
        client.post(
            f"/platform/applications/{rejected}/opinions",
            json={"reviewer": committee_member(client), "recommendation": "reject"},
        )
    )
    ok(
        client.post(
            f"/platform/applications/{rejected}/reject",
            json={"reasons": "Sample size too small for the aim."},
        )
    )
    draft = ok(
        client.post(
            "/platform/applications",
            json=application_body([ada], project_title="Secret draft project"),
        ),
        201,
    )["application_id"]
    return {
        "ada": ada,
        "bob": bob,
        "active": active,
        "rejected": rejected,
        "draft": draft,
        "committee": committee_member(client),
    }


def test_html_page_lists_public_entries(client: FlaskClient, entries: dict[str, str]) -> None:
    resp = client.get("/register", headers={"Accept": "text/html"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert "script" not in resp.headers["Content-Security-Policy"]
    html = resp.get_data(as_text=True)
    assert "<script" not in html
    assert '<form method="get"' in html and 'name="q"' in html
    assert entries["active"] in html and entries["rejected"] in html
    assert entries["draft"] not in html and "Secret draft project" not in html
    assert "Universität Heidelberg" in html and "Charité Berlin" in html
    assert "Recurrent variants" in html and "https://doi.org/10.1000/abc" in html
    assert "Sample size too small" in html
    for personal in (*PERSONAL, entries["committee"], entries["ada"], entries["bob"]):
        assert personal not in html


def test_html_search(client: FlaskClient, entries: dict[str, str]) -> None:
    html = client.get("/register?q=charit%C3%A9").get_data(as_text=True)
    assert entries["rejected"] in html and entries["active"] not in html
    html = client.get("/register?q=somatic+brain").get_data(as_text=True)
    assert entries["active"] in html and entries["rejected"] not in html
    html = client.get("/register?status=rejected").get_data(as_text=True)
    assert entries["rejected"] in html and entries["active"] not in html
    html = client.get("/register?q=100%25").get_data(as_text=True)  # LIKE wildcards are literal
    assert "0 Einträge" in html
    html = client.get("/register?q=Secret").get_data(as_text=True)
    assert entries["draft"] not in html


def test_html_escapes_content(client: FlaskClient, datasets: None) -> None:
    app_id = ok(
        client.post(
            "/platform/applications",
            json=application_body(accounts(client, "s"), project_title="<script>alert(1)</script>"),
        ),
        201,
    )["application_id"]
    ok(client.post(f"/platform/applications/{app_id}/submit"))
    html = client.get("/register").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_json_negotiation_and_api(client: FlaskClient, entries: dict[str, str]) -> None:
    negotiated = client.get("/register", headers={"Accept": "application/json"})
    assert negotiated.status_code == 200 and negotiated.mimetype == "application/json"
    assert negotiated.headers["Vary"] == "Accept"
    api = client.get("/register/api")
    assert api.status_code == 200
    assert negotiated.get_json()["total"] == api.get_json()["total"] == 2
    browser = client.get(
        "/register",
        headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
    )
    assert browser.mimetype == "text/html"
    assert client.get("/register?format=json").mimetype == "application/json"
    filtered = client.get("/register/api?q=charit%C3%A9").get_json()
    assert [e["entry"]["application_id"] for e in filtered["entries"]] == [entries["rejected"]]


def test_json_entry_content(client: FlaskClient, entries: dict[str, str]) -> None:
    body = ok(client.get(f"/register/api/{entries['active']}"))
    e = body["entry"]
    assert e["status"] == "active" and e["decision"] == "approved"
    assert e["applicant_institution"] == "Universität Heidelberg"
    assert e["purpose"]["code"] == "DUO:0000006" and e["purpose"]["shorthand"] == "HMB"
    assert {d["dataset_id"]: d["granted"] for d in e["datasets"]} == {"ds-hmb": True, "ds-rs": True}
    assert e["authorized_users"] == {"count": 2, "institutions": ["Universität Heidelberg"]}
    assert e["results"][0]["reference"] == "https://doi.org/10.1000/abc"
    assert e["dates"]["submitted"] and e["dates"]["decided"] and e["dates"]["activated"]
    text = json.dumps(body, ensure_ascii=False)
    for personal in (*PERSONAL, entries["committee"], entries["ada"], entries["bob"]):
        assert personal not in text
    rejected = ok(client.get(f"/register/api/{entries['rejected']}"))["entry"]
    assert rejected["decision"] == "rejected"
    assert rejected["decision_reasons"] == "Sample size too small for the aim."
    assert client.get(f"/register/api/{entries['draft']}").status_code == 404
    missing = client.get("/register/api/DAA-0000-00000000")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not-found"


def test_user_names_only_when_configured(
    client: FlaskClient, ctx: AppContext, entries: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(
        ctx.settings, platform=replace(ctx.settings.platform, register_show_user_names=True)
    )
    monkeypatch.setattr(ctx, "settings", settings)
    e = ok(client.get(f"/register/api/{entries['active']}"))["entry"]
    assert e["authorized_users"]["names"] == ["Researcher 0", "Researcher 1"]
    text = json.dumps(e, ensure_ascii=False)
    for still_private in (entries["ada"], "Dr. Ada Lovelace", "committee-1", entries["committee"]):
        assert still_private not in text


def test_signatures_verify_with_published_jwks(
    client: FlaskClient, entries: dict[str, str]
) -> None:
    listing = ok(client.get("/register/api"))
    jwks = ok(client.get("/register/jwks.json"))
    assert listing["jwks_uri"].endswith("/register/jwks.json")
    keys = KeySet.import_key_set(jwks)
    (key,) = keys.keys
    assert key.as_dict(private=False).get("d") is None
    for item in listing["entries"]:
        token = jws.deserialize_compact(item["jws"], key, algorithms=["ES256"])
        assert token.headers()["alg"] == "ES256"
        assert token.headers()["kid"] == key.kid
        assert token.headers()["typ"] == "application/register-entry+json"
        assert json.loads(token.payload) == item["entry"]
        assert token.payload == canonical_json(item["entry"])
    # A changed entry does not verify.
    header, payload, sig = listing["entries"][0]["jws"].split(".")
    forged_entry = dict(listing["entries"][0]["entry"], decision="approved")
    forged_entry["applicant_institution"] = "Someone else"
    import base64

    forged = base64.urlsafe_b64encode(canonical_json(forged_entry)).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(f"{header}.{forged}.{sig}", key, algorithms=["ES256"])


def test_register_refusals(client: FlaskClient) -> None:
    for url in (
        "/register?status=draft",
        "/register?status=bogus",
        "/register?offset=-1",
        "/register/api?offset=x",
        "/register?q=" + "x" * 201,
    ):
        resp = client.get(url)
        assert resp.status_code == 400, url
        assert resp.get_json()["code"] == "invalid"
    assert client.get("/register/nope").status_code == 404
    resp = client.post("/register")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"


def test_pagination_links(
    client: FlaskClient, entries: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_provider.http import register

    monkeypatch.setattr(register, "PAGE_SIZE", 1)
    first = client.get("/register?q=universit%C3%A4t+charit%C3%A9").get_data(as_text=True)
    assert "0 Einträge" in first  # words are ANDed
    page1 = client.get("/register").get_data(as_text=True)
    assert "offset=1" in page1 and "vorherige Seite" not in page1
    page2 = client.get("/register?offset=1").get_data(as_text=True)
    assert "vorherige Seite" in page2 and "nächste Seite" not in page2
    ids = {entries["active"], entries["rejected"]}
    shown = {i for i in ids if i in page1} | {i for i in ids if i in page2}
    assert shown == ids
    api = client.get("/register/api?offset=1").get_json()
    assert api["limit"] == 1 and api["total"] == 2 and len(api["entries"]) == 1
