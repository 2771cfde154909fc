"""The GA4GH compliance suites against a live server on a loopback port.

- refget: PyPI ``refget-compliance`` (``compliance_suite.TestRunner``), with the three
  sequences it ships loaded (NC_001422.1 registered as circular, as the suite expects).
- seqcol: ``refget.compliance.run_compliance`` from the PyPI ``refget`` package, with the six
  FASTA collections it expects loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from compliance_suite.test_runner import TestRunner as RefgetComplianceRunner
from refget.compliance import run_compliance

from ga4gh.refget.ports import SequenceRegistry

pytestmark = pytest.mark.slow


def test_refget_compliance_suite_passes(
    registry: SequenceRegistry, compliance_fastas: dict[str, Path], live_server: str
) -> None:
    registry.add_fasta(compliance_fastas["I"])
    registry.add_fasta(compliance_fastas["VI"])
    registry.add_fasta(compliance_fastas["NC"], circular=["NC_001422.1"], naming_authority="insdc")

    runner = RefgetComplianceRunner(live_server + "/ga4gh/refget/")
    runner.run_tests()
    report = runner.generate_final_json()

    failed = [r["name"] for r in report["test_results"] if r["result"] == -1]
    skipped = sorted(r["name"] for r in report["test_results"] if r["result"] == 0)
    assert failed == [], failed
    # The suite has a branch for servers without circular support; it is the only one that
    # may be skipped because this server supports circular sequences.
    assert skipped == ["test_sequence_circular_support_false_errors"]
    assert report["total_tests_passed"] == report["total_tests"] - 1
    assert report["total_tests"] == 30


def test_seqcol_compliance_runner_passes(
    registry: SequenceRegistry, seqcol_fastas: dict[str, Path], live_server: str
) -> None:
    for path in seqcol_fastas.values():
        registry.add_fasta(path)

    report = run_compliance(live_server + "/ga4gh/seqcol")

    failures = {r["name"]: r["error"] for r in report["results"] if not r["passed"]}
    assert failures == {}
    assert report["passed"] == report["total"] > 50
