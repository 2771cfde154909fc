"""`genomseq platform ...` commands and the demo seeder, against the real databases."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import Result
from flask import Flask

from config.cli import cli
from config.context import AppContext
from platform_provider.cli import DEMO_DATASET, seed_demo
from platform_provider.ports import GrantDirectory
from platform_provider.service import PlatformService


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(cli, args=["platform", *args])


def test_cli_workflow(app: Flask, ctx: AppContext, tmp_path: Path) -> None:
    r = run(app, "add-participant", "GRZK00001", "--kind", "genome-data-center", "--name", "GRZ")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["credentials"]["client_id"]
    r = run(app, "add-participant", "GRZK0001", "--kind", "genome-data-center", "--name", "x")
    assert r.exit_code == 1 and "invalid" in r.output
    ds = tmp_path / "ds.json"
    ds.write_text(
        json.dumps(
            {
                "dataset_id": "ds-1",
                "title": "WGS cohort",
                "custodian_id": "GRZK00001",
                "data_categories": ["variant-calls"],
                "data_use": {"codes": ["HMB"]},
            }
        )
    )
    assert run(app, "add-dataset", str(ds)).exit_code == 0
    user = run(app, "add-user", "grace", "--bona-fide")
    assert user.exit_code == 0, user.output
    created = json.loads(user.output)
    assert created["password"] and created["subject"]
    application = tmp_path / "app.json"
    today = date.today()
    application.write_text(
        json.dumps(
            {
                "applicant_subject": created["subject"],
                "applicant_name": "Grace H.",
                "institution": "TU München",
                "project_title": "Variant burden",
                "project_summary": "x",
                "purpose": "HMB",
                "datasets": ["ds-1"],
                "data_categories": ["variant-calls"],
                "authorized_users": [{"subject": created["subject"], "name": "Grace H."}],
                "requested_from": today.isoformat(),
                "requested_until": (today + timedelta(days=90)).isoformat(),
                "ethics_vote": "EK-1",
            }
        )
    )
    member = run(app, "add-user", "c1", "--role", "scientific-committee")
    assert member.exit_code == 0, member.output
    reviewer = json.loads(member.output)["subject"]
    r = run(app, "opinion", "x", "--reviewer", "nobody", "--recommendation", "approve")
    assert r.exit_code == 1
    r = run(app, "create-application", str(application))
    assert r.exit_code == 0, r.output
    app_id = json.loads(r.output)["application_id"]
    assert run(app, "activate", app_id).exit_code == 1  # illegal transition: still a draft
    for args in (
        ["submit", app_id],
        ["review", app_id],
        ["opinion", app_id, "--reviewer", reviewer, "--recommendation", "approve"],
        ["approve", app_id, "--reasons", "fine"],
        ["activate", app_id],
    ):
        r = run(app, *args)
        assert r.exit_code == 0, (args, r.output)
    r = run(app, "list-grants", "--subject", created["subject"], "--active")
    grants = json.loads(r.output)
    assert [g["dataset_id"] for g in grants] == ["ds-1"]
    r = run(
        app,
        "extend",
        app_id,
        "--until",
        (today + timedelta(days=200)).isoformat(),
        "--reason",
        "more time",
    )
    assert r.exit_code == 0, r.output
    assert run(app, "revoke", app_id, "--reasons", "ended early").exit_code == 0
    assert (
        ctx.get(GrantDirectory).active_grants(  # type: ignore[type-abstract]
            created["subject"], datetime.now(UTC)
        )
        == []
    )
    r = run(app, "list-applications", "--state", "revoked")
    assert app_id in r.output and "1 application(s)" in r.output
    r = run(app, "show-application", app_id)
    assert [e["action"] for e in json.loads(r.output)["events"]][-1] == "revoke"


def test_cli_meldebestaetigung(app: Flask) -> None:
    r = run(app, "meldebestaetigung", "A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2&1")
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert out["hash_value"] == "bad8a31b1759b565bee3d283e68af38e173499bfcce2f50691e7eddda62b2f31"
    assert out["billable"] is True
    assert run(app, "meldebestaetigung", "A1&2").exit_code == 1


def test_seed_demo(app: Flask, ctx: AppContext) -> None:
    lines = seed_demo(ctx)
    assert any("active for dataset" in line for line in lines), lines
    service = ctx.get(PlatformService)
    apps, total = service.applications(states=["active"])
    assert total == 1
    subject = apps[0].authorized_users[0].subject
    grants = ctx.get(GrantDirectory).active_grants(  # type: ignore[type-abstract]
        subject, datetime.now(UTC)
    )
    assert [g.dataset_id for g in grants] == [DEMO_DATASET]
    again = seed_demo(ctx)
    assert "already seeded" in again[0]
