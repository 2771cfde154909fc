"""The trust center's operations on its own database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from config.context import AppContext
from trust_center.core.consent import ParticipationScope, Purpose, ScopeStatus
from trust_center.core.errors import (
    ConsentMissing,
    DualControlViolation,
    DuplicateTransferNumber,
    InvalidIdentifier,
    ReidentificationNotApproved,
    UnknownPseudonym,
    UnknownRequest,
    UnknownVorgangsnummer,
    VorgangsnummerExpired,
    VorgangsnummerUsed,
    WrongNodeKind,
)
from trust_center.core.identifiers import DataKind
from trust_center.ports import ConsentService, ParticipationDeclaration, PseudonymService
from trust_center.service import TrustCenterService
from trust_center.storage import sql

from .conftest import GRZ, IK, IK2, KDK, KVNR, KVNR2

TAN_G = "a" * 63 + "1"
TAN_C = "B" * 63 + "2"


def _register(tc: TrustCenterService, arbeitsnummer: str = "AN-1", kvnr: str = KVNR, ik: str = IK):
    return tc.register_case(ik=ik, arbeitsnummer=arbeitsnummer, kvnr=kvnr, actor="le:" + ik)


def _permit_all(tc: TrustCenterService, pseudonym: str, on: date = date(2025, 1, 1)) -> None:
    tc.record_participation(KDK, pseudonym, [
        ParticipationDeclaration(scope, ScopeStatus.PERMITTED, on) for scope in ParticipationScope
    ])


def test_ports_are_provided(ctx: AppContext, tc: TrustCenterService) -> None:
    assert ctx.get(PseudonymService) is tc  # type: ignore[type-abstract]
    assert ctx.get(ConsentService) is tc  # type: ignore[type-abstract]
    assert isinstance(tc, PseudonymService) and isinstance(tc, ConsentService)


def test_registration_issues_two_distinct_single_use_numbers(tc: TrustCenterService) -> None:
    reg = _register(tc)
    assert len(reg.vorgangsnummer_genomic) == 64 and len(reg.vorgangsnummer_clinical) == 64
    assert reg.vorgangsnummer_genomic != reg.vorgangsnummer_clinical
    int(reg.vorgangsnummer_genomic, 16)
    assert reg.mode == "vorgangsnummer"
    clinical = tc.exchange(reg.vorgangsnummer_clinical, KDK)
    genomic = tc.exchange(reg.vorgangsnummer_genomic, GRZ)
    assert clinical.kind == DataKind.CLINICAL and genomic.kind == DataKind.GENOMIC
    assert clinical.pseudonym.startswith("k1.") and clinical.key_id == "k1"
    assert clinical.pseudonym != genomic.pseudonym
    with pytest.raises(VorgangsnummerUsed):
        tc.exchange(reg.vorgangsnummer_clinical, KDK)
    with pytest.raises(VorgangsnummerUsed):
        tc.exchange(reg.vorgangsnummer_genomic, GRZ)


def test_nothing_identifying_is_stored(ctx: AppContext, tc: TrustCenterService) -> None:
    reg = _register(tc, arbeitsnummer="ARBEIT-4711")
    tc.exchange(reg.vorgangsnummer_clinical, KDK)
    with ctx.trust_center_engine.connect() as conn:
        dump = []
        for table in sql.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                dump.append(repr(tuple(row)))
        dump += [repr(tuple(r)) for r in conn.execute(text("SELECT * FROM audit_log"))]
    blob = "\n".join(dump)
    assert KVNR not in blob
    assert "ARBEIT-4711" not in blob
    assert reg.vorgangsnummer_clinical not in blob and reg.vorgangsnummer_genomic not in blob


def test_unknown_vorgangsnummer_is_refused_and_audited(tc: TrustCenterService) -> None:
    with pytest.raises(UnknownVorgangsnummer):
        tc.exchange("c" * 64, KDK)
    assert tc.audit.entries()[-1].event == "vorgangsnummer.refused"


@pytest.mark.parametrize("bad", ["", "xyz", "0" * 64, "g" * 64, "a" * 63])
def test_malformed_vorgangsnummer_is_refused(tc: TrustCenterService, bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        tc.exchange(bad, KDK)


def test_vorgangsnummer_only_at_its_kind_of_node(tc: TrustCenterService) -> None:
    reg = _register(tc)
    with pytest.raises(WrongNodeKind):
        tc.exchange(reg.vorgangsnummer_clinical, GRZ)
    with pytest.raises(WrongNodeKind):
        tc.exchange(reg.vorgangsnummer_genomic, KDK)
    # Refusal did not consume it.
    assert tc.exchange(reg.vorgangsnummer_clinical, KDK).kind == DataKind.CLINICAL


def test_expired_vorgangsnummer_is_refused(ctx: AppContext, tc: TrustCenterService) -> None:
    now = [tc._clock_us()]
    timed = TrustCenterService(ctx.trust_center_engine, tc.keys, tc.audit, lifetime_days=1,
                               clock_us=lambda: now[0])
    reg = _register(timed)
    now[0] += int(timedelta(days=1, seconds=1).total_seconds() * 1e6)
    with pytest.raises(VorgangsnummerExpired):
        timed.exchange(reg.vorgangsnummer_clinical, KDK)


def test_concurrent_exchange_succeeds_once(tc: TrustCenterService) -> None:
    reg = _register(tc)
    results: list[object] = []

    def worker() -> None:
        try:
            results.append(tc.exchange(reg.vorgangsnummer_clinical, KDK))
        except VorgangsnummerUsed as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert tc.audit.verify().ok


def test_compatibility_mode_tans(tc: TrustCenterService) -> None:
    reg = tc.register_case(ik=IK, arbeitsnummer="AN-T", kvnr=KVNR, actor="le", tan_g=TAN_G,
                           tan_c=TAN_C)
    assert reg.mode == "tan" and reg.vorgangsnummer_clinical == TAN_C.lower()
    with pytest.raises(DuplicateTransferNumber):
        tc.register_case(ik=IK, arbeitsnummer="AN-T2", kvnr=KVNR, actor="le", tan_g=TAN_G,
                         tan_c="d" * 64)
    with pytest.raises(DuplicateTransferNumber):
        tc.register_case(ik=IK2, arbeitsnummer="AN-T3", kvnr=KVNR, actor="le", tan_g="e" * 64,
                         tan_c=TAN_C.lower())
    assert tc.exchange(TAN_G, GRZ).kind == DataKind.GENOMIC
    with pytest.raises(InvalidIdentifier):
        tc.register_case(ik=IK, arbeitsnummer="AN-T4", kvnr=KVNR, actor="le", tan_g="f" * 64)
    with pytest.raises(DuplicateTransferNumber):
        tc.register_case(ik=IK, arbeitsnummer="AN-T5", kvnr=KVNR, actor="le", tan_g="f" * 64,
                         tan_c="f" * 64)


def test_compatibility_mode_can_be_off(ctx: AppContext, tc: TrustCenterService) -> None:
    strict = TrustCenterService(ctx.trust_center_engine, tc.keys, tc.audit,
                                accept_transfer_numbers=False)
    with pytest.raises(InvalidIdentifier):
        strict.register_case(ik=IK, arbeitsnummer="A", kvnr=KVNR, actor="le", tan_g=TAN_G,
                             tan_c=TAN_C)


@pytest.mark.parametrize(
    "field,value",
    [("kvnr", "A123456781"), ("kvnr", "a123456780"), ("kvnr", "A12345678"), ("ik", "26032682"),
     ("ik", "26032682X"), ("arbeitsnummer", ""), ("arbeitsnummer", "x" * 41),
     ("arbeitsnummer", " padded"), ("arbeitsnummer", "line\nbreak")],
)
def test_registration_refuses_bad_input(tc: TrustCenterService, field: str, value: str) -> None:
    args = {"ik": IK, "arbeitsnummer": "AN-1", "kvnr": KVNR} | {field: value}
    with pytest.raises(InvalidIdentifier):
        tc.register_case(actor="le", **args)


def test_follow_up_registration_keeps_the_case(tc: TrustCenterService) -> None:
    first = _register(tc, "AN-1")
    p1 = tc.exchange(first.vorgangsnummer_clinical, KDK).pseudonym
    again = _register(tc, "AN-1")  # a follow-up report: fresh numbers, same case
    assert again.case_id == first.case_id and not again.new_case and first.new_case
    assert again.vorgangsnummer_clinical != first.vorgangsnummer_clinical
    assert tc.exchange(again.vorgangsnummer_clinical, KDK).pseudonym == p1
    with pytest.raises(DuplicateTransferNumber, match="another patient"):
        _register(tc, "AN-1", kvnr=KVNR2)
    other = _register(tc, "AN-1", ik=IK2)  # another hospital may use the same number
    assert other.case_id != first.case_id and other.new_case
    assert [e.event for e in tc.audit.entries(limit=100)].count("case.follow-up") == 1


def test_concurrent_registrations_make_one_case(tc: TrustCenterService) -> None:
    results: list[object] = []

    def worker() -> None:
        results.append(_register(tc, "AN-RACE"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.case_id for r in results}) == 1  # type: ignore[attr-defined]
    assert sum(r.new_case for r in results) == 1  # type: ignore[attr-defined]


def test_derive_is_stable_domain_separated_and_links_kvnr_to_person(tc: TrustCenterService) -> None:
    a = tc.derive(KDK, "urn:mrn", ["123", "456", "123"])
    assert a[0] == a[2] and a[0] != a[1]
    assert tc.derive(KDK, "urn:mrn", ["123"]) == [a[0]]
    assert tc.derive("kdk:KDKXXX002", "urn:mrn", ["123"]) != [a[0]]
    assert tc.derive(KDK, "urn:other", ["123"]) != [a[0]]
    assert tc.lookup(KDK, a[0]).subject_type == "identifier"
    person = tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", [KVNR])[0]
    assert tc.lookup(KDK, person).subject_type == "person"
    # A KVNR with a bad check digit is still pseudonymised, as a plain identifier.
    bad = tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", ["A123456781"])[0]
    assert tc.lookup(KDK, bad).subject_type == "identifier"
    with pytest.raises(InvalidIdentifier):
        tc.derive("tc:internal", "urn:mrn", ["1"])
    with pytest.raises(InvalidIdentifier):
        tc.derive("nonsense", "urn:mrn", ["1"])


def test_key_rotation_rederives_without_losing_links(tc: TrustCenterService) -> None:
    reg = _register(tc)
    old = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    _permit_all(tc, old)
    mrn_old = tc.derive(KDK, "urn:mrn", ["123"])[0]
    rotation = tc.rotate_key(KDK, actor="operator")
    assert (rotation.old_version, rotation.new_version, rotation.rederived) == (1, 2, 2)
    info = tc.lookup(KDK, old)
    assert info.key_id == "k1" and info.current.startswith("k2.") and info.current != old
    assert tc.lookup(KDK, info.current).current == info.current
    assert tc.derive(KDK, "urn:mrn", ["123"])[0] == tc.lookup(KDK, mrn_old).current
    # Consent still follows the case under the new pseudonym.
    assert tc.may_use(KDK, info.current, Purpose.MV_SEQUENCING, date(2025, 6, 1)).allowed
    assert tc.may_use(KDK, old, Purpose.MV_SEQUENCING, date(2025, 6, 1)).allowed
    # Other domains are untouched.
    assert tc.derive(GRZ, "urn:mrn", ["1"])[0].startswith("k1.")
    assert tc.translate(KDK, [old, info.current, "k1." + "0" * 32]) == {
        old: info.current, info.current: info.current}


def test_lookup_of_unknown_pseudonym(tc: TrustCenterService) -> None:
    with pytest.raises(UnknownPseudonym):
        tc.lookup(KDK, "k1." + "0" * 32)
    with pytest.raises(InvalidIdentifier):
        tc.lookup(KDK, "not-a-pseudonym")


def test_consent_default_deny_and_withdrawal(ctx: AppContext, tc: TrustCenterService) -> None:
    reg = _register(tc)
    p = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    assert not tc.may_use(KDK, p, Purpose.MV_SEQUENCING).allowed
    assert not tc.may_use(KDK, "k1." + "1" * 32, Purpose.MV_SEQUENCING).allowed
    tc.record_participation(KDK, p, [
        ParticipationDeclaration(ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED,
                                 date(2025, 1, 10)),
        ParticipationDeclaration(ParticipationScope.RE_IDENTIFICATION, ScopeStatus.DENIED,
                                 date(2025, 1, 10)),
    ])
    assert tc.may_use(KDK, p, Purpose.MV_SEQUENCING, date(2025, 1, 10)).allowed
    assert not tc.may_use(KDK, p, Purpose.MV_SEQUENCING, date(2025, 1, 9)).allowed
    assert not tc.may_use(KDK, p, Purpose.RE_IDENTIFICATION, date(2025, 2, 1)).allowed
    assert not tc.may_use(KDK, p, Purpose.CASE_IDENTIFICATION, date(2025, 2, 1)).allowed
    assert not tc.may_use(KDK, p, Purpose.RESEARCH, date(2025, 2, 1)).allowed
    # Another domain's pseudonym of the same case is a different value; this one is unknown there.
    assert not tc.may_use(GRZ, p, Purpose.MV_SEQUENCING, date(2025, 2, 1)).allowed
    today = tc.now().date()
    tc.record_participation(KDK, p, [ParticipationDeclaration(
        ParticipationScope.MV_SEQUENCING, ScopeStatus.CANCELLED, today)])
    assert not tc.may_use(KDK, p, Purpose.MV_SEQUENCING).allowed
    # Withdrawal counts for every later request, even one about a day before it.
    decision = tc.may_use(KDK, p, Purpose.MV_SEQUENCING, date(2025, 3, 1))
    assert not decision.allowed and "any more" in decision.reason
    events = [e.event for e in tc.audit.entries()]
    assert events.count("consent.participation") == 2


def test_research_needs_broad_consent(tc: TrustCenterService) -> None:
    import json
    from importlib import resources

    import grz_pydantic_models_testing.example_research_consent as fx

    def load(name: str) -> dict:
        return json.loads((resources.files(fx) / name).read_text())

    reg = _register(tc)
    p = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    _permit_all(tc, p, date(2020, 1, 1))
    on = date(2023, 5, 1)
    assert not tc.may_use(KDK, p, Purpose.RESEARCH, on).allowed
    tc.record_broad_consent(KDK, p, load("minimal_consented.json"))
    # Evaluated at a past day, and also at the request: minimal_consented ran out 2025-08-31.
    fixed = TrustCenterService(tc.engine, tc.keys, tc.audit,
                               clock_us=lambda: 1_700_000_000_000_000)  # 2023-11-14
    assert fixed.may_use(KDK, p, Purpose.RESEARCH, on).allowed
    assert not tc.may_use(KDK, p, Purpose.RESEARCH, on).allowed
    fixed.record_broad_consent(KDK, p, load("withdrawal_complete.json"))
    assert not fixed.may_use(KDK, p, Purpose.RESEARCH, on).allowed


def test_invalid_broad_consent_is_refused(tc: TrustCenterService) -> None:
    from trust_center.core.errors import InvalidConsent

    reg = _register(tc)
    p = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    with pytest.raises(InvalidConsent):
        tc.record_broad_consent(KDK, p, {"resourceType": "Consent", "status": "active"})
    with pytest.raises(UnknownPseudonym):
        tc.record_participation(KDK, "k1." + "2" * 32, [ParticipationDeclaration(
            ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, date(2025, 1, 1))])


def test_person_pseudonym_sees_every_case(tc: TrustCenterService) -> None:
    a = tc.exchange(_register(tc, "AN-A").vorgangsnummer_clinical, KDK).pseudonym
    b = tc.exchange(_register(tc, "AN-B").vorgangsnummer_clinical, KDK).pseudonym
    tc.exchange(_register(tc, "AN-C", kvnr=KVNR2).vorgangsnummer_clinical, KDK)
    _permit_all(tc, a)
    person = tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", [KVNR])[0]
    # Case B has no declaration: any case without permission denies the person.
    assert not tc.may_use(KDK, person, Purpose.MV_SEQUENCING, date(2025, 6, 1)).allowed
    _permit_all(tc, b)
    assert tc.may_use(KDK, person, Purpose.MV_SEQUENCING, date(2025, 6, 1)).allowed


def test_corrections_are_routed_by_arbeitsnummer(tc: TrustCenterService) -> None:
    reg = _register(tc, "AN-CORR")
    p = tc.exchange(reg.vorgangsnummer_genomic, GRZ).pseudonym
    tc.request_correction(GRZ, p, "VCF header lacks the sample column")
    with pytest.raises(UnknownPseudonym):
        tc.request_correction(KDK, p, "wrong domain")
    with pytest.raises(InvalidIdentifier):
        tc.request_correction(GRZ, p, "")
    assert tc.fetch_corrections(IK2, actor="le") == []
    got = tc.fetch_corrections(IK, actor="le")
    assert [(c.arbeitsnummer, c.kind) for c in got] == [("AN-CORR", "genomic")]
    assert "VCF header" in got[0].reason
    assert tc.fetch_corrections(IK, actor="le") == []  # delivered once


def _reid_setup(tc: TrustCenterService, permit: bool = True) -> str:
    reg = _register(tc, "AN-REID")
    p = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    status = ScopeStatus.PERMITTED if permit else ScopeStatus.DENIED
    tc.record_participation(KDK, p, [
        ParticipationDeclaration(ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED,
                                 date(2025, 1, 1)),
        ParticipationDeclaration(ParticipationScope.CASE_IDENTIFICATION, status, date(2025, 1, 1)),
    ])
    return p


def _request(tc: TrustCenterService, p: str, ik: str = IK) -> str:
    return tc.request_reidentification(domain=KDK, pseudonym=p,
                                       purpose=Purpose.CASE_IDENTIFICATION, hospital_ik=ik,
                                       requested_by="dr.requester", justification="tumour board")


def test_reidentification_under_dual_control(tc: TrustCenterService) -> None:
    p = _reid_setup(tc)
    rid = _request(tc, p)
    with pytest.raises(ReidentificationNotApproved):
        tc.answer_reidentification(rid, IK, actor="le")
    with pytest.raises(DualControlViolation):
        tc.approve_reidentification(rid, "dr.requester")
    first = tc.approve_reidentification(rid, "approver.one")
    assert first.status == "pending"
    with pytest.raises(DualControlViolation):
        tc.approve_reidentification(rid, "approver.one")
    with pytest.raises(ReidentificationNotApproved):
        tc.answer_reidentification(rid, IK, actor="le")  # one approver is not enough
    second = tc.approve_reidentification(rid, "approver.two")
    assert second.status == "approved" and second.approvers == ("approver.one", "approver.two")
    with pytest.raises(UnknownRequest):
        tc.answer_reidentification(rid, IK2, actor="other-le")
    assert tc.answer_reidentification(rid, IK, actor="le") == "AN-REID"
    with pytest.raises(ReidentificationNotApproved):
        tc.answer_reidentification(rid, IK, actor="le")  # answered once
    events = [e.event for e in tc.audit.entries(limit=1000)]
    for event in ("reidentification.requested", "reidentification.approved",
                  "reidentification.answered"):
        assert event in events
    assert tc.audit.verify().ok


def test_reidentification_without_consent_is_refused(tc: TrustCenterService) -> None:
    p = _reid_setup(tc, permit=False)
    with pytest.raises(ConsentMissing):
        _request(tc, p)
    assert tc.audit.entries(limit=1000)[-1].event == "reidentification.refused"
    with pytest.raises(InvalidIdentifier):
        tc.request_reidentification(domain=KDK, pseudonym=p, purpose=Purpose.RESEARCH,
                                    hospital_ik=IK, requested_by="x", justification="y")


def test_reidentification_for_another_hospital_is_refused(tc: TrustCenterService) -> None:
    p = _reid_setup(tc)
    with pytest.raises(UnknownPseudonym):
        _request(tc, p, ik=IK2)


def test_withdrawal_after_approval_stops_the_answer(tc: TrustCenterService) -> None:
    p = _reid_setup(tc)
    rid = _request(tc, p)
    tc.approve_reidentification(rid, "a1")
    tc.approve_reidentification(rid, "a2")
    tc.record_participation(KDK, p, [ParticipationDeclaration(
        ParticipationScope.CASE_IDENTIFICATION, ScopeStatus.CANCELLED, tc.now().date())])
    with pytest.raises(ConsentMissing):
        tc.answer_reidentification(rid, IK, actor="le")
    assert tc.reidentification_requests()[0].status == "refused"


def test_rejected_request_cannot_be_answered(tc: TrustCenterService) -> None:
    rid = _request(tc, _reid_setup(tc))
    tc.reject_reidentification(rid, "a1")
    with pytest.raises(ReidentificationNotApproved):
        tc.approve_reidentification(rid, "a2")


def test_project_pseudonyms_are_unlinkable_and_need_research_consent(
    tc: TrustCenterService,
) -> None:
    import json
    from importlib import resources

    import grz_pydantic_models_testing.example_research_consent as fx

    a = tc.exchange(_register(tc, "AN-P1").vorgangsnummer_clinical, KDK).pseudonym
    b = tc.exchange(_register(tc, "AN-P2").vorgangsnummer_clinical, KDK).pseudonym
    other = tc.exchange(_register(tc, "AN-P3", kvnr=KVNR2).vorgangsnummer_clinical, KDK).pseudonym
    consent = json.loads((resources.files(fx) / "minimal_consented_open_ended.json").read_text())
    for p in (a, b):
        _permit_all(tc, p, date(2020, 9, 1))
        tc.record_broad_consent(KDK, p, consent)
    got = tc.project_pseudonyms("P-1", KDK, [a, b, other, "k1." + "9" * 32], actor="platform")
    assert got[a] is not None and got[a] == got[b]  # one person, one project pseudonym
    assert got[other] is None  # no research consent
    assert got["k1." + "9" * 32] is None  # unknown
    second = tc.project_pseudonyms("P-2", KDK, [a], actor="platform")
    assert second[a] != got[a]  # two projects cannot link their extracts
    # The project pseudonym resolves back for consent checks in the project domain.
    assert tc.may_use("project:P-1", got[a], Purpose.RESEARCH).allowed
    assert tc.audit.entries(limit=1000)[-1].event == "project.pseudonyms"


def test_permitted_filters_a_batch_like_may_use(tc: TrustCenterService) -> None:
    yes = tc.exchange(_register(tc, "AN-F1").vorgangsnummer_clinical, KDK).pseudonym
    no = tc.exchange(_register(tc, "AN-F2", kvnr=KVNR2).vorgangsnummer_clinical, KDK).pseudonym
    _permit_all(tc, yes)
    person = tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", [KVNR])[0]
    unknown = "k1." + "7" * 32
    asked = [yes, no, person, unknown, yes]
    on = date(2025, 6, 1)
    got = tc.permitted(KDK, asked, Purpose.MV_SEQUENCING, on)
    assert got == {p for p in asked if tc.may_use(KDK, p, Purpose.MV_SEQUENCING, on).allowed}
    assert got == {yes, person}
    assert tc.permitted(KDK, asked, Purpose.RESEARCH, on) == frozenset()
    assert tc.permitted("bad", asked, Purpose.MV_SEQUENCING, on) == frozenset()
    many = tc.derive(KDK, "urn:mrn", [str(i) for i in range(1200)])
    assert tc.permitted(KDK, many + [yes], Purpose.MV_SEQUENCING, on) == {yes}
