"""Pure logic: SMART scopes (v1 and v2), visa conditions, passwords, access decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from common.auth import Principal
from ga4gh.passport.core import scopes as smart
from ga4gh.passport.core.clearinghouse import TokenPrincipal
from ga4gh.passport.core.enforcement import (
    AccessRequest,
    consent_questions,
    decide,
    decide_many,
)
from ga4gh.passport.core.passwords import hash_password, verify_password
from ga4gh.passport.core.visas import Visa, condition_met, conditions_met

NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize(("scope", "resource", "action", "context", "expected"), [
    ("system/Observation.rs", "Observation", "r", "system", True),
    ("system/Observation.rs", "Observation", "s", "system", True),
    ("system/Observation.rs", "Observation", "c", "system", False),
    ("system/Observation.read", "Observation", "s", "system", True),
    ("system/Observation.write", "Observation", "u", "system", True),
    ("system/Observation.write", "Observation", "r", "system", False),
    ("system/*.cruds", "Condition", "d", "system", True),
    ("system/*.*", "Condition", "d", "system", True),
    ("patient/*.rs", "Observation", "r", "user", False),
    ("patient/*.rs", "Observation", "r", "patient", True),
    ("user/Observation.rs", "Observation", "r", "system", False),
    ("user/Observation.rs?category=laboratory", "Observation", "r", "user", False),
    ("user/Observation.sr", "Observation", "r", "user", False),  # v2 order is c r u d s
    ("openid", "Observation", "r", "user", False),
])
def test_smart_scopes(scope: str, resource: str, action: str, context: str,
                      expected: bool) -> None:
    assert smart.allows([scope], resource, action, context) is expected


def test_narrow_refuses_widening() -> None:
    allowed = ["system/Observation.cruds", "system/Patient.rs", "openid"]
    assert smart.narrow(["system/Observation.rs"], allowed) == ["system/Observation.rs"]
    assert smart.narrow(["system/*.rs"], allowed) == []
    assert smart.narrow(["system/Patient.cruds"], allowed) == []
    assert smart.narrow(["openid", "profile"], allowed) == ["openid"]


def _visa(vtype: str, value: str, source: str = "https://src", by: str = "so",
          conditions: tuple = ()) -> Visa:
    return Visa("https://iss", "sub", vtype, value, source, by, 0, 10**10, "j", conditions)


def test_condition_values() -> None:
    status = _visa("ResearcherStatus", "https://doi.org/10.1038/x")
    assert condition_met({"type": "ResearcherStatus", "value": "const:https://doi.org/10.1038/x"},
                         [status])
    assert condition_met({"type": "ResearcherStatus", "value": "pattern:https://doi.org/*"},
                         [status])
    assert not condition_met({"type": "ResearcherStatus", "value": "pattern:https://doi.org/?"},
                             [status])
    assert not condition_met({"type": "ResearcherStatus", "value": "https://doi.org/10.1038/x"},
                             [status])  # no prefix: fail closed
    assert not condition_met({"type": "AffiliationAndRole"}, [status])
    linked = _visa("LinkedIdentities", "a,https://x;b,https://y")
    assert condition_met({"type": "LinkedIdentities", "value": "split_pattern:b,https://*"},
                         [linked])
    assert not condition_met({"type": "ResearcherStatus", "value": "pattern:[h]ttps*"}, [status])


def test_conditions_or_of_ands() -> None:
    status = _visa("ResearcherStatus", "bona-fide")
    role = _visa("AffiliationAndRole", "faculty@uni.de")
    clause_a = ({"type": "ResearcherStatus", "value": "const:bona-fide"},
                {"type": "AffiliationAndRole", "value": "const:staff@uni.de"})
    clause_b = ({"type": "AffiliationAndRole", "value": "pattern:*@uni.de"},)
    cag = _visa("ControlledAccessGrants", "ds", conditions=(clause_a,))
    assert not conditions_met(cag, [cag, status, role])
    cag2 = _visa("ControlledAccessGrants", "ds", conditions=(clause_a, clause_b))
    assert conditions_met(cag2, [cag2, status, role])
    # A visa cannot satisfy its own condition.
    selfish = _visa("ResearcherStatus", "x", conditions=(({"type": "ResearcherStatus"},),))
    assert not conditions_met(selfish, [selfish])


def test_passwords() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not verify_password("x", "garbage")
    assert hash_password("same") != hash_password("same")  # salted


@dataclass(frozen=True)
class G:
    grant_id: str
    dataset_id: str
    purpose: str


def _user(scopes: str = "user/*.rs") -> TokenPrincipal:
    return TokenPrincipal(subject="u", scopes=frozenset(scopes.split()))


def test_decide_matrix() -> None:
    grants = [G("g1", "ds1", "DUO:0000006")]
    yes = lambda d, p, pu, at: True  # noqa: E731
    no = lambda d, p, pu, at: False  # noqa: E731
    read = AccessRequest("Observation", "r", "ds1", "p1")
    assert decide(_user(), read, grants, at=NOW, consent=yes).outcome == "allow"
    assert decide(_user(), read, grants, at=NOW, consent=no).reason == "consent"
    assert decide(_user(), read, grants, at=NOW, consent=None).reason == "consent-unavailable"
    assert decide(_user(), read, [], at=NOW, consent=yes).reason == "no-grant"
    mismatch = AccessRequest("Observation", "r", "ds1", "p1", "DUO:0000007")
    assert decide(_user(), mismatch, grants, at=NOW, consent=yes).reason == "purpose-mismatch"
    assert decide(_user("user/Patient.rs"), read, grants, at=NOW,
                  consent=yes).outcome == "forbidden"
    system = TokenPrincipal(subject="c", scopes=frozenset({"system/Observation.rs"}), system=True)
    assert decide(system, read, [], at=NOW, consent=None).reason == "participant-scope"
    dev = Principal(subject="dev", unrestricted=True)
    assert decide(dev, read, [], at=NOW, consent=None).outcome == "allow"


def test_batch_decisions_ask_each_consent_question_once() -> None:
    hmb, gru = "DUO:0000006", "DUO:0000042"
    grants = [G("g1", "ds1", hmb), G("g2", "ds1", gru), G("g3", "ds2", hmb)]
    reqs = [AccessRequest("Observation", "s", "ds1", "p1"),
            AccessRequest("Observation", "s", "ds1", "p1"),
            AccessRequest("Observation", "s", "ds2", "p2"),
            AccessRequest("Organization", "s", "ds2"),  # no patient: no consent question
            AccessRequest("Observation", "s", "ds9", "p3"),  # no grant: no question
            AccessRequest("Observation", "s", "ds1", "p4", gru)]  # declared purpose only
    assert consent_questions(_user(), reqs, grants) == {
        (None, "p1", hmb), (None, "p1", gru), (None, "p2", hmb), (None, "p4", gru)}
    system = TokenPrincipal(subject="c", scopes=frozenset({"system/*.rs"}), system=True)
    assert consent_questions(system, reqs, grants) == set()
    out = decide_many(_user(), reqs, grants, at=NOW, consented={(None, "p1", gru)})
    assert [(d.outcome, d.reason, d.grant_id) for d in out] == [
        ("allow", "grant+consent", "g2"), ("allow", "grant+consent", "g2"),
        ("not_found", "consent", "g3"), ("allow", "grant", "g3"),
        ("not_found", "no-grant", None), ("not_found", "consent", "g2")]
    unavailable = decide_many(_user(), reqs[:1], grants, at=NOW, consented=None)
    assert unavailable[0].reason == "consent-unavailable"
    # Each decision equals the one-by-one decision with the same consent answers.
    ask = lambda d, p, pu, at: (d, p, pu) == (None, "p1", gru)  # noqa: E731
    assert out == [decide(_user(), r, grants, at=NOW, consent=ask) for r in reqs]
