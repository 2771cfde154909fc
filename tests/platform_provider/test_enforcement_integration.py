"""The platform provider's grants drive enforcement and visas; revocation acts immediately."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask.testing import FlaskClient

from common.auth import Principal
from config.context import AppContext
from ga4gh.passport.broker import Broker
from ga4gh.passport.core.enforcement import AccessRequest
from ga4gh.passport.enforcement import Enforcer
from ga4gh.passport.ports import UserDirectory
from tests.platform_provider.conftest import ok, run_to_active

HMB = "DUO:0000006"


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


def test_grant_allows_until_revoked(client: FlaskClient, ctx: AppContext, datasets: None) -> None:
    users = ctx.get(UserDirectory)  # type: ignore[type-abstract]
    user = users.create_user("lin", "a long enough password", researcher_status="bona-fide")
    app_id = run_to_active(client, [user.subject])
    enforcer = ctx.get(Enforcer)
    researcher = Principal(subject=user.subject, scopes=frozenset({"user/*.rs"}))
    read = AccessRequest("Observation", "r", "ds-hmb", None, HMB)
    assert enforcer.decide(researcher, read).outcome == "allow"
    wrong_purpose = AccessRequest("Observation", "r", "ds-hmb", None, "DUO:0000011")
    assert enforcer.decide(researcher, wrong_purpose).outcome == "not_found"
    other_dataset = AccessRequest("Observation", "r", "ds-poa", None, None)
    assert enforcer.decide(researcher, other_dataset).outcome == "not_found"

    # The broker turns each active grant into a ControlledAccessGrants visa (by: dac).
    granted = {
        g["grant_id"]: g["dataset_id"]
        for g in ok(client.get(f"/platform/grants?subject={user.subject}"))["grants"]
    }
    assert set(granted.values()) == {"ds-hmb", "ds-rs"}
    visas = [
        _payload(v.token)["ga4gh_visa_v1"] for v in ctx.get(Broker).visas(users.get(user.subject))
    ]
    cag = [v for v in visas if v["type"] == "ControlledAccessGrants"]
    assert {v["grant"] for v in cag} == set(granted)
    assert all(v["by"] == "dac" and v["purpose"] == HMB for v in cag)

    ok(client.post(f"/platform/applications/{app_id}/revoke", json={"reasons": "misuse"}))
    assert enforcer.decide(researcher, read).outcome == "not_found"
