"""Staff API: participants with clients, datasets, the whole workflow, refusals, grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from common.audit import AuditLog
from config.context import AppContext
from ga4gh.passport.ports import ClientRegistry
from platform_provider.ports import GrantDirectory
from tests.platform_provider.conftest import (
    TODAY,
    accounts,
    application_body,
    committee_member,
    ok,
    run_to_active,
)


def problem(resp: object, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert resp.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    body = resp.get_json()  # type: ignore[attr-defined]
    assert body["code"] == code and body["status"] == status
    return body  # type: ignore[no-any-return]


def test_participant_with_private_key_jwt_client(client: FlaskClient, ctx: AppContext) -> None:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "kdk-1"})
    resp = client.post(
        "/platform/participants",
        json={
            "participant_id": "KDKK00001",
            "kind": "clinical-data-node",
            "name": "KDK Heidelberg",
            "jwks": {"keys": [key.as_dict(private=False)]},
        },
    )
    body = ok(resp, 201)
    assert resp.headers["Location"] == "/platform/participants/KDKK00001"
    assert body["status"] == "approved"
    assert body["credentials"]["client_secret"] is None  # private_key_jwt: no secret
    client_id = body["client_id"]
    registry = ctx.get(ClientRegistry)  # type: ignore[type-abstract]
    registered = registry.get(client_id)
    assert registered.token_endpoint_auth_method == "private_key_jwt"
    assert registered.role == "clinical-data-node"

    suspended = ok(
        client.post(
            "/platform/participants/KDKK00001/status",
            json={"status": "suspended", "reason": "security audit"},
        )
    )
    assert suspended["status"] == "suspended"
    assert registry.get(client_id).status == "suspended"
    ok(
        client.post(
            "/platform/participants/KDKK00001/status",
            json={"status": "revoked", "reason": "left the programme"},
        )
    )
    assert registry.get(client_id).status == "revoked"
    problem(
        client.post(
            "/platform/participants/KDKK00001/status",
            json={"status": "approved", "reason": "again"},
        ),
        409,
        "illegal-status-change",
    )
    history = ok(client.get("/platform/participants/KDKK00001"))["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "approved"),
        ("approved", "suspended"),
        ("suspended", "revoked"),
    ]
    problem(
        client.post(
            "/platform/participants",
            json={"participant_id": "KDKK00001", "kind": "clinical-data-node", "name": "again"},
        ),
        409,
        "conflict",
    )


def test_participant_refusals(client: FlaskClient) -> None:
    problem(
        client.post(
            "/platform/participants",
            json={"participant_id": "KDK1", "kind": "clinical-data-node", "name": "x"},
        ),
        400,
        "invalid",
    )
    problem(
        client.post(
            "/platform/participants",
            json={"participant_id": "260530104", "kind": "hospital", "name": "x"},
        ),
        400,
        "invalid",
    )
    problem(
        client.post(
            "/platform/participants",
            json={
                "participant_id": "260530103",
                "kind": "hospital",
                "name": "x",
                "jwks": {"keys": [{"kty": "EC", "d": "secret"}]},
            },
        ),
        400,
        "invalid",
    )
    problem(
        client.post("/platform/participants", data="x", content_type="text/plain"),
        415,
        "unsupported-media-type",
    )
    problem(client.get("/platform/participants/KDKX00001"), 404, "not-found")
    problem(client.get("/platform/no-such-thing"), 404, "not-found")
    problem(client.delete("/platform/participants"), 405, "method-not-allowed")
    problem(client.get("/platform/participants?kind=lab"), 400, "invalid")


def test_hospital_client_secret(client: FlaskClient) -> None:
    body = ok(
        client.post(
            "/platform/participants",
            json={"participant_id": "260530103", "kind": "hospital", "name": "Klinikum"},
        ),
        201,
    )
    assert body["credentials"]["client_secret"]
    assert (
        client.post(
            "/platform/participants",
            json={"participant_id": "260530103", "kind": "hospital", "name": "Klinikum"},
        ).status_code
        == 409
    )


def test_full_workflow_grants_and_history(
    client: FlaskClient, ctx: AppContext, datasets: None
) -> None:
    user = ok(
        client.post(
            "/platform/users",
            json={
                "username": "ada",
                "password": "a long enough password",
                "affiliation": "faculty@uni-heidelberg.de",
                "researcher_status": "bona-fide",
            },
        ),
        201,
    )
    subjects = [user["subject"], *accounts(client, "bob")]
    app_id = run_to_active(client, subjects)
    app = ok(client.get(f"/platform/applications/{app_id}"))
    assert app["state"] == "active"
    decisions = {d["dataset_id"]: d for d in app["dataset_decisions"]}
    assert decisions["ds-hmb"]["outcome"] == "match" and decisions["ds-hmb"]["granted"]
    assert decisions["ds-rs"]["outcome"] == "needs_review" and decisions["ds-rs"]["granted"]
    assert decisions["ds-rs"]["confirmed_by"] == "development"

    grants = ok(client.get(f"/platform/grants?application_id={app_id}"))["grants"]
    assert len(grants) == 4
    directory = ctx.get(GrantDirectory)  # type: ignore[type-abstract]
    now = datetime.now(UTC)
    active = directory.active_grants(subjects[0], now)
    assert {g.dataset_id for g in active} == {"ds-hmb", "ds-rs"}
    assert all(g.purpose == "DUO:0000006" for g in active)

    events = ok(client.get(f"/platform/applications/{app_id}/events"))["events"]
    assert [e["action"] for e in events] == [
        "create",
        "submit",
        "start_review",
        "record_opinion",
        "approve",
        "activate",
    ]
    audit = ctx.get(AuditLog)
    names = [e.event for e in audit.entries(limit=1000)]
    for action in ("create", "submit", "start_review", "record_opinion", "approve", "activate"):
        assert f"platform.application.{action}" in names
    assert audit.verify().ok

    # Extension moves the end of every grant.
    new_until = (TODAY + timedelta(days=400)).isoformat()
    ok(
        client.post(
            f"/platform/applications/{app_id}/extend",
            json={"valid_until": new_until, "reason": "recruitment slower"},
        )
    )
    later = now + timedelta(days=300)
    assert len(directory.active_grants(subjects[1], later)) == 2

    # Revoking one grant: effective on the very next lookup.
    g = next(x for x in grants if x["subject"] == subjects[1] and x["dataset_id"] == "ds-rs")
    ok(client.post(f"/platform/grants/{g['grant_id']}/revoke", json={"reason": "left the lab"}))
    assert {x.dataset_id for x in directory.active_grants(subjects[1], datetime.now(UTC))} == {
        "ds-hmb"
    }
    problem(
        client.post(f"/platform/grants/{g['grant_id']}/revoke", json={"reason": "x"}),
        409,
        "conflict",
    )

    # Revoking the application ends every grant now.
    ok(client.post(f"/platform/applications/{app_id}/revoke", json={"reasons": "misuse"}))
    assert directory.active_grants(subjects[0], datetime.now(UTC)) == []
    ok(
        client.post(
            f"/platform/applications/{app_id}/results",
            json={
                "title": "Partial results",
                "reference": "https://doi.org/10.1000/xyz",
                "year": TODAY.year,
            },
        )
    )


def test_illegal_transitions_are_409(client: FlaskClient, datasets: None) -> None:
    member = committee_member(client, "c-a")  # also the applicant: conflict of interest
    app_id = ok(client.post("/platform/applications", json=application_body([member])), 201)[
        "application_id"
    ]
    for action, body in [
        ("review", None),
        ("approve", {"reasons": "x"}),
        ("reject", {"reasons": "x"}),
        ("activate", None),
        ("expire", None),
        ("revoke", {"reasons": "x"}),
        ("extend", {"valid_until": "2030-01-01", "reason": "x"}),
        ("results", {"title": "t", "reference": "r", "year": 2026}),
        ("opinions", {"recommendation": "approve"}),
    ]:
        resp = client.post(f"/platform/applications/{app_id}/{action}", json=body or {})
        problem(resp, 409, "illegal-transition")
    ok(client.post(f"/platform/applications/{app_id}/submit"))
    problem(client.post(f"/platform/applications/{app_id}/submit"), 409, "illegal-transition")
    ok(client.post(f"/platform/applications/{app_id}/review"))
    problem(
        client.post(f"/platform/applications/{app_id}/approve", json={"reasons": "x"}),
        409,
        "conflict",
    )  # no committee opinion yet
    problem(
        client.post(
            f"/platform/applications/{app_id}/opinions",
            json={"reviewer": member, "recommendation": "approve"},
        ),
        409,
        "conflict-of-interest",
    )
    ok(
        client.post(
            f"/platform/applications/{app_id}/opinions",
            json={"reviewer": committee_member(client, "c1"), "recommendation": "reject"},
        )
    )
    problem(client.post(f"/platform/applications/{app_id}/approve", json={}), 400, "invalid")
    ok(client.post(f"/platform/applications/{app_id}/reject", json={"reasons": "no ethics"}))
    problem(client.post(f"/platform/applications/{app_id}/withdraw"), 409, "illegal-transition")


def test_nothing_to_grant(client: FlaskClient, datasets: None) -> None:
    body = application_body(accounts(client, "a"), datasets=["ds-poa", "ds-rs"])
    app_id = ok(client.post("/platform/applications", json=body), 201)["application_id"]
    duo = ok(client.get(f"/platform/applications/{app_id}/duo"))["datasets"]
    assert duo["ds-poa"]["outcome"] == "no_match" and duo["ds-rs"]["outcome"] == "needs_review"
    for step in ("submit", "review"):
        ok(client.post(f"/platform/applications/{app_id}/{step}"))
    ok(
        client.post(
            f"/platform/applications/{app_id}/opinions",
            json={"reviewer": committee_member(client, "c1"), "recommendation": "approve"},
        )
    )
    problem(
        client.post(f"/platform/applications/{app_id}/approve", json={"reasons": "ok"}),
        409,
        "nothing-to-grant",
    )
    problem(
        client.post(
            f"/platform/applications/{app_id}/approve",
            json={"reasons": "ok", "confirm": ["ds-poa"]},
        ),
        400,
        "invalid",
    )
    assert ok(client.get(f"/platform/grants?application_id={app_id}"))["grants"] == []


def test_application_input_refusals(client: FlaskClient, datasets: None) -> None:
    problem(
        client.post(
            "/platform/applications", json=application_body(["s"], purpose={"category": "XYZ"})
        ),
        400,
        "invalid",
    )
    problem(
        client.post(
            "/platform/applications", json=application_body(["s"], requested_until="2020-01-01")
        ),
        400,
        "invalid",
    )
    problem(client.post("/platform/applications", json=[1]), 400, "invalid")
    app_id = ok(
        client.post("/platform/applications", json=application_body(["s"], ethics_vote="")), 201
    )["application_id"]
    problem(client.post(f"/platform/applications/{app_id}/submit"), 422, "processing")
    problem(client.get("/platform/applications/DAA-0000-NOPE"), 404, "not-found")
    problem(client.get("/platform/applications?state=bogus"), 400, "invalid")
    problem(client.get("/platform/applications?limit=0"), 400, "invalid")


def test_expiry(client: FlaskClient, ctx: AppContext, datasets: None) -> None:
    from platform_provider.service import PlatformService

    (x,) = accounts(client, "x")
    app_id = run_to_active(client, [x])
    service = ctx.get(PlatformService)
    problem(client.post(f"/platform/applications/{app_id}/expire"), 409, "illegal-transition")
    directory = ctx.get(GrantDirectory)  # type: ignore[type-abstract]
    end = datetime.combine(TODAY + timedelta(days=181), datetime.min.time(), tzinfo=UTC)
    assert directory.active_grants(x, end - timedelta(microseconds=1))
    assert directory.active_grants(x, end) == []  # grants expire by themselves
    original = service.clock
    service.clock = lambda: end + timedelta(hours=1)
    try:
        assert service.expire_due(actor="scheduler") == [app_id]
    finally:
        service.clock = original
    assert ok(client.get(f"/platform/applications/{app_id}"))["state"] == "expired"


def test_only_committee_members_review(client: FlaskClient, datasets: None) -> None:
    body = application_body(accounts(client, "a"))
    app_id = ok(client.post("/platform/applications", json=body), 201)["application_id"]
    for step in ("submit", "review"):
        ok(client.post(f"/platform/applications/{app_id}/{step}"))
    outsider = ok(
        client.post("/platform/users", json={"username": "eve", "password": "eve password 123"}),
        201,
    )["subject"]
    for reviewer in (outsider, "no-such-account"):
        problem(
            client.post(
                f"/platform/applications/{app_id}/opinions",
                json={"reviewer": reviewer, "recommendation": "approve"},
            ),
            403,
            "forbidden",
        )
    assert ok(client.get(f"/platform/applications/{app_id}"))["opinions"] == []


def test_submit_requires_accounts(client: FlaskClient, datasets: None) -> None:
    (real,) = accounts(client, "real")
    for subjects in (["no-account"], [real, "no-account"]):
        app_id = ok(client.post("/platform/applications", json=application_body(subjects)), 201)[
            "application_id"
        ]
        problem(client.post(f"/platform/applications/{app_id}/submit"), 422, "processing")
        assert ok(client.get(f"/platform/applications/{app_id}"))["state"] == "draft"
