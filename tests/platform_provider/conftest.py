"""Helpers for platform provider tests: a full application flow through the staff API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

TODAY = date.today()


def application_body(subjects: list[str], **changes: Any) -> dict[str, Any]:
    """A complete application request for the datasets the ``datasets`` fixture creates."""
    body: dict[str, Any] = {
        "applicant_subject": subjects[0],
        "applicant_name": "Dr. Ada Lovelace",
        "institution": "Universität Heidelberg",
        "project_title": "Recurrent somatic variants in paediatric brain tumours",
        "project_summary": "Pan-cancer analysis of variant calls from the Modellvorhaben.",
        "purpose": {"category": "HMB"},
        "datasets": ["ds-hmb", "ds-rs"],
        "data_categories": ["variant-calls"],
        "access_level": "individual",
        "authorized_users": [
            {"subject": s, "name": f"Researcher {i}", "institution": "Universität Heidelberg"}
            for i, s in enumerate(subjects)
        ],
        "requested_from": (TODAY - timedelta(days=1)).isoformat(),
        "requested_until": (TODAY + timedelta(days=180)).isoformat(),
        "ethics_vote": "EK-HD S-123/2026",
    }
    body.update(changes)
    return body


def ok(resp: Any, status: int = 200) -> Any:
    """Assert the status and return the JSON body."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


@pytest.fixture()
def datasets(client: FlaskClient) -> None:
    """A GRZ custodian and three datasets with different data-use terms."""
    ok(
        client.post(
            "/platform/participants",
            json={
                "participant_id": "GRZK00001",
                "kind": "genome-data-center",
                "name": "GRZ Test",
                "create_client": False,
            },
        ),
        201,
    )
    for ds, codes in (("ds-hmb", ["HMB", "IRB"]), ("ds-rs", ["GRU", "RS"]), ("ds-poa", ["POA"])):
        ok(
            client.post(
                "/platform/datasets",
                json={
                    "dataset_id": ds,
                    "title": f"Dataset {ds}",
                    "custodian_id": "GRZK00001",
                    "data_categories": ["variant-calls", "clinical"],
                    "data_use": {"codes": codes},
                },
            ),
            201,
        )


def accounts(client: FlaskClient, *usernames: str) -> list[str]:
    """Subjects of new researcher accounts (grants are keyed by account ``sub``)."""
    return [
        ok(
            client.post(
                "/platform/users", json={"username": u, "password": "researcher password 1"}
            ),
            201,
        )["subject"]
        for u in usernames
    ]


def committee_member(client: FlaskClient, username: str = "committee-1") -> str:
    """Subject of a scientific committee member account (created on first use)."""
    resp = client.post(
        "/platform/users",
        json={
            "username": username,
            "password": "committee password 123",
            "roles": ["scientific-committee"],
        },
    )
    if resp.status_code == 409:
        from config.context import app_context
        from ga4gh.passport.ports import UserDirectory

        users = app_context(client.application).get(UserDirectory)  # type: ignore[type-abstract]
        user = users.authenticate(username, "committee password 123")
        assert user is not None
        return user.subject
    return ok(resp, 201)["subject"]  # type: ignore[no-any-return]


def run_to_active(client: FlaskClient, subjects: list[str], **changes: Any) -> str:
    """Create, submit, review, approve (confirming ds-rs) and activate; returns the id."""
    app_id = ok(
        client.post("/platform/applications", json=application_body(subjects, **changes)), 201
    )["application_id"]
    ok(client.post(f"/platform/applications/{app_id}/submit"))
    ok(client.post(f"/platform/applications/{app_id}/review"))
    ok(
        client.post(
            f"/platform/applications/{app_id}/opinions",
            json={"reviewer": committee_member(client), "recommendation": "approve"},
        )
    )
    ok(
        client.post(
            f"/platform/applications/{app_id}/approve",
            json={"reasons": "Scientifically sound; purpose matches.", "confirm": ["ds-rs"]},
        )
    )
    ok(client.post(f"/platform/applications/{app_id}/activate"))
    return app_id  # type: ignore[no-any-return]
