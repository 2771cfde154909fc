from __future__ import annotations

import pytest
from click.testing import CliRunner

from config.cli import cli
from config.context import AppContext
from trust_center.core.consent import ParticipationScope, Purpose, ScopeStatus
from trust_center.ports import ParticipationDeclaration
from trust_center.service import TrustCenterService

from .conftest import IK, KDK, KVNR


@pytest.fixture()
def runner(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    s = ctx.settings
    monkeypatch.setenv("GENOMSEQ_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("GENOMSEQ_DATABASE_URL", s.main_database_url)
    monkeypatch.setenv("GENOMSEQ_TRUST_CENTER_DATABASE_URL", s.trust_center_database_url)
    monkeypatch.setenv("GENOMSEQ_AUTHORIZATION", "off")
    return CliRunner()


def test_register_case_prompts_for_kvnr(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["trust-center", "register-case", "--ik", IK,
                                 "--arbeitsnummer", "CLI-1", "--operator", "alice"],
                           input=KVNR + "\n")
    assert result.exit_code == 0, result.output
    assert '"vorgangsnummerClinical"' in result.output
    assert KVNR not in result.output  # hidden input is not echoed
    bad = runner.invoke(cli, ["trust-center", "register-case", "--ik", IK,
                              "--arbeitsnummer", "CLI-2", "--kvnr", "A123456781"])
    assert bad.exit_code == 1 and "check digit" in bad.output


def test_rotation_and_fingerprint(runner: CliRunner, tc: TrustCenterService) -> None:
    result = runner.invoke(cli, ["trust-center", "rotate-key", "--domain", KDK])
    assert result.exit_code == 0 and "k1 -> k2" in result.output
    assert runner.invoke(cli, ["trust-center", "rotate-key", "--domain", "bad"]).exit_code == 1
    fp = runner.invoke(cli, ["trust-center", "key-fingerprint"])
    assert fp.output.strip() == tc.keys.fingerprint


def test_dual_control_approvals(runner: CliRunner, tc: TrustCenterService) -> None:
    reg = tc.register_case(ik=IK, arbeitsnummer="CLI-R", kvnr=KVNR, actor="le")
    p = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    from datetime import date

    tc.record_participation(KDK, p, [ParticipationDeclaration(s, ScopeStatus.PERMITTED,
                                                              date(2025, 1, 1))
                                     for s in ParticipationScope])
    rid = tc.request_reidentification(domain=KDK, pseudonym=p,
                                      purpose=Purpose.RE_IDENTIFICATION, hospital_ik=IK,
                                      requested_by="researcher", justification="finding")
    listing = runner.invoke(cli, ["trust-center", "reidentification", "list"])
    assert rid in listing.output and "pending" in listing.output
    one = runner.invoke(cli, ["trust-center", "reidentification", "approve", rid,
                              "--operator", "alice"])
    assert one.exit_code == 0 and "pending (1 approval(s))" in one.output
    again = runner.invoke(cli, ["trust-center", "reidentification", "approve", rid,
                                "--operator", "alice"])
    assert again.exit_code == 1 and "dual-control" in again.output
    two = runner.invoke(cli, ["trust-center", "reidentification", "approve", rid,
                              "--operator", "bob"])
    assert two.exit_code == 0 and "approved" in two.output
    assert tc.answer_reidentification(rid, IK, actor="le") == "CLI-R"
    audit = runner.invoke(cli, ["audit", "verify", "--database", "trust-center"])
    assert audit.exit_code == 0, audit.output


def test_seed_demo(ctx: AppContext, tc: TrustCenterService) -> None:
    from config.wiring.trust_center import seed_demo

    lines = seed_demo(ctx)
    assert any("/trust-center/pseudonyms/exchange" in line for line in lines)
    number = lines[-1].split('"vorgangsnummer": "')[1][:64]
    assert tc.exchange(number, KDK).kind.value == "clinical"
