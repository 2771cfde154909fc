"""The /grz status API, the real catalogue bridge and the platform provider's Prüfbericht
reception with Meldebestätigung (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from common.errors import InvalidInput, PermissionDenied
from config.app import create_app
from config.context import AppContext
from config.settings import Settings
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.grz.core.intake import IntakeConfig, IntakeService
from ga4gh.grz.core.states import State
from ga4gh.grz.ports import PruefberichtReceiver
from ga4gh.grz.storage.bridges import GenomicCatalogueRegistrar
from ga4gh.grz.storage.crypt4gh_files import Crypt4GHFileProcessor
from ga4gh.grz.storage.inbox import FolderArchive, FolderInbox
from ga4gh.grz.storage.sql import SqlSubmissionStore
from platform_provider.core.meldebestaetigung import Meldebestaetigung, hash_value
from platform_provider.pruefberichte import PruefberichtRegister
from platform_provider.service import PlatformService
from tests.ga4gh.grz.builders import GRZ_ID, Keys, build_submission, make_keys
from tests.ga4gh.grz.fakes import FakeTrustCenter


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


def _service(ctx: AppContext, tmp_path: Path, keys: Keys, reports: object) -> IntakeService:
    return IntakeService(
        store=SqlSubmissionStore(ctx.engine),
        inbox=FolderInbox(tmp_path / "inbox"),
        processor=Crypt4GHFileProcessor(keys.grz_secret),
        catalogue=GenomicCatalogueRegistrar(ctx.get(GenomicCatalogue)),  # type: ignore[type-abstract]
        tans=FakeTrustCenter(),
        reports=reports,  # type: ignore[arg-type]
        archive=FolderArchive(tmp_path / "archive"),
        config=IntakeConfig(
            genomic_data_center_id=GRZ_ID, tan_key=b"k" * 32, work_dir=tmp_path / "w"
        ),
    )


def test_meldebestaetigung_test_vector() -> None:
    text = "A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2&1"
    assert hash_value(text) == "bad8a31b1759b565bee3d283e68af38e173499bfcce2f50691e7eddda62b2f31"
    assert Meldebestaetigung.parse(text).hash_string == text


def test_intake_into_the_real_catalogue_and_platform(
    ctx: AppContext, tmp_path: Path, keys: Keys, client: FlaskClient
) -> None:
    register = PruefberichtRegister(ctx.engine, is_approved=lambda p: p == GRZ_ID)
    s = build_submission(tmp_path / "inbox", keys)
    done = _service(ctx, tmp_path, keys, register).run(s.submission_id)
    assert done.state is State.finished, done.error_detail
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    objs = [catalogue.get(f.catalogue_id) for f in done.files]
    assert sorted(o.kind.value for o in objs if o) == ["reads", "variants"]
    assert {o.sha256 for o in objs if o} == {f.declared_checksum for f in done.files}
    assert all(o.index_key for o in objs if o)  # indexed: servable by htsget
    datasets = {o.dataset for o in objs if o}
    assert len(datasets) == 1 and next(iter(datasets)).startswith("GDP")
    # The platform provider issued a Meldebestätigung for the initial submission.
    mb = register.meldebestaetigung(s.tan_g)
    assert mb is not None and mb.billable
    assert mb.hash_string.split("&")[2:] == ["123456789", GRZ_ID, "0", "O", "9", "1", "G", "4", "1"]
    assert mb.hash_value == hashlib.sha256(mb.hash_string.encode()).hexdigest()
    csv = register.hospital_csv("123456789")
    assert csv.splitlines()[0] == "Vorgangsnummer,Meldebestaetigung"
    assert csv.splitlines()[1].startswith(s.tan_g + ",IBE+" + mb.code)
    # The hospital sees the status over HTTP; nothing identifying is in it.
    resp = client.get(f"/grz/submissions/{s.submission_id}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["state"] == "finished" and body["qualityCheckPassed"] is True
    assert resp.headers["Cache-Control"] == "no-store"
    assert [h["state"] for h in body["history"]][-1] == "finished"
    assert all(f["checksumVerified"] and f["sizeVerified"] for f in body["files"])
    assert s.tan_g not in resp.get_data(as_text=True)
    assert next(iter(datasets)) not in resp.get_data(as_text=True)


def test_followup_and_test_get_no_meldebestaetigung(
    ctx: AppContext, tmp_path: Path, keys: Keys
) -> None:
    register = PruefberichtRegister(ctx.engine, is_approved=lambda p: p == GRZ_ID)
    for i, kind in enumerate(["followup", "test"]):
        s = build_submission(tmp_path / "inbox", keys, submission_type=kind, seed=20 + i)
        assert _service(ctx, tmp_path, keys, register).run(s.submission_id).state is State.finished
        assert register.meldebestaetigung(s.tan_g) is None


def _report(tan: str = "a" * 64, node: str = GRZ_ID, **changes: object) -> dict[str, object]:
    case = {
        "submissionDate": "2024-07-01",
        "submissionType": "initial",
        "tan": tan,
        "submitterId": "260530103",
        "dataNodeId": node,
        "diseaseType": "oncological",
        "dataCategory": "genomic",
        "libraryType": "wes",
        "coverageType": "GKV",
        "dataQualityCheckPassed": True,
        **changes,
    }
    return {"SubmittedCase": case}


def test_pruefbericht_refusals(ctx: AppContext) -> None:
    register = PruefberichtRegister(ctx.engine, is_approved=lambda p: p == GRZ_ID)
    with pytest.raises(PermissionDenied):
        register.submit(_report(), participant="GRZX00999")
    with pytest.raises(PermissionDenied):
        register.submit(_report(node="GRZX00999"), participant=GRZ_ID)
    with pytest.raises(InvalidInput) as exc:
        register.submit(_report(libraryType="xyz"), participant=GRZ_ID)
    assert "libraryType" in exc.value.message


def test_counter_and_corrected_report_keep_the_code(ctx: AppContext) -> None:
    register = PruefberichtRegister(ctx.engine, is_approved=lambda p: p == GRZ_ID)
    first = register.receive(_report("a" * 64), participant=GRZ_ID).meldebestaetigung
    second = register.receive(_report("b" * 64), participant=GRZ_ID).meldebestaetigung
    assert first and second and (first.zaehler, second.zaehler) == (1, 2)
    corrected = register.receive(
        _report("a" * 64, dataQualityCheckPassed=False), participant=GRZ_ID
    ).meldebestaetigung
    assert corrected and corrected.code == first.code and not corrected.qc_bestanden


def test_status_api_errors(client: FlaskClient) -> None:
    resp = client.get("/grz/submissions/123456789_2024-01-01_deadbeef")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "submission-not-found"
    resp = client.get("/grz/submissions/not-an-id")
    assert resp.status_code == 400 and resp.get_json()["code"] == "invalid"
    resp = client.post("/grz/submissions/123456789_2024-01-01_deadbeef")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"


def test_status_api_requires_authentication(base_settings: Settings) -> None:
    app: Flask = create_app(base_settings.replace(authorization="on"))
    resp = app.test_client().get("/grz/submissions/123456789_2024-01-01_deadbeef")
    assert resp.status_code == 401
    assert resp.get_json()["code"] == "login"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_wiring_provides_the_in_process_receiver(ctx: AppContext) -> None:
    assert isinstance(ctx.get(PruefberichtReceiver), PruefberichtRegister)  # type: ignore[type-abstract]


def _token_app(base_settings: Settings, tmp_path: Path, lines: dict[str, str]) -> Flask:
    tokens = tmp_path / "tokens"
    tokens.write_text(
        "".join(
            f"{hashlib.sha256(t.encode()).hexdigest()} {scopes}\n" for t, scopes in lines.items()
        )
    )
    return create_app(base_settings.replace(authorization="on", api_tokens_file=str(tokens)))


def test_hospital_sees_only_its_own_submissions(
    app: Flask, base_settings: Settings, tmp_path: Path
) -> None:
    secured = _token_app(base_settings, tmp_path, {"le": "grz.status:123456789", "x": "fhir"})
    c = secured.test_client()
    own = c.get(
        "/grz/submissions/123456789_2024-01-01_deadbeef", headers={"Authorization": "Bearer le"}
    )
    assert own.status_code == 404  # allowed, but unknown
    other = c.get(
        "/grz/submissions/987654321_2024-01-01_deadbeef", headers={"Authorization": "Bearer le"}
    )
    assert other.status_code == 403 and other.get_json()["code"] == "forbidden"
    wrong = c.get(
        "/grz/submissions/123456789_2024-01-01_deadbeef", headers={"Authorization": "Bearer x"}
    )
    assert wrong.status_code == 403


def test_pruefbericht_http_endpoint_and_hospital_csv(
    app: Flask, ctx: AppContext, base_settings: Settings, tmp_path: Path
) -> None:
    from common.auth import Principal
    from config.context import app_context

    ctx.get(PlatformService).register_participant(
        GRZ_ID, "genome-data-center", "GRZ", actor="admin", create_client=False
    )
    secured = _token_app(base_settings, tmp_path, {"admin": "platform/admin"})
    c = secured.test_client()
    real = app_context(secured).authenticator

    class GrzClient:
        def authenticate(self, authorization: str | None) -> Principal:
            if authorization == "Bearer grz":
                return Principal(
                    "GRZ", client_id=GRZ_ID, scopes=frozenset({"platform/pruefbericht"})
                )
            if authorization == "Bearer other":
                return Principal(
                    "X", client_id="GRZX00999", scopes=frozenset({"platform/pruefbericht"})
                )
            return real.authenticate(authorization)

    app_context(secured).authenticator = GrzClient()
    resp = c.post(
        "/platform/pruefberichte", json=_report("c" * 64), headers={"Authorization": "Bearer grz"}
    )
    assert resp.status_code == 201, resp.get_json()
    mb = resp.get_json()["meldebestaetigung"]
    assert mb["hashValue"] == hashlib.sha256(mb["hashString"].encode()).hexdigest()
    assert mb["ibe"].startswith("IBE+") and mb["billable"] is True
    resp = c.post(
        "/platform/pruefberichte",
        json=_report("d" * 64, submissionType="followup"),
        headers={"Authorization": "Bearer grz"},
    )
    assert resp.status_code == 200 and resp.get_json() == {"meldebestaetigung": None}
    resp = c.post(
        "/platform/pruefberichte", json=_report("e" * 64), headers={"Authorization": "Bearer other"}
    )
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
    resp = c.post("/platform/pruefberichte", data="x", headers={"Authorization": "Bearer grz"})
    assert resp.status_code == 400 and resp.get_json()["code"] == "invalid"
    resp = c.post("/platform/pruefberichte", json=_report("f" * 64))
    assert resp.status_code == 401
    # The hospital downloads its CSV.
    resp = c.get(
        "/platform/meldebestaetigungen/260530103.csv", headers={"Authorization": "Bearer admin"}
    )
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    rows = resp.get_data(as_text=True).splitlines()
    assert rows[0] == "Vorgangsnummer,Meldebestaetigung" and len(rows) == 2
    assert rows[1].startswith("c" * 64 + ",IBE+")
    resp = c.get(
        "/platform/meldebestaetigungen/26053010.csv", headers={"Authorization": "Bearer admin"}
    )
    assert resp.status_code == 400


def test_plain_text_vcf_is_catalogued_as_bgzf(ctx: AppContext, tmp_path: Path, keys: Keys) -> None:
    import gzip
    import json

    from tests.ga4gh.grz.builders import encrypt

    s = build_submission(tmp_path / "inbox", keys, seed=31)
    files = s.metadata["donors"][0]["labData"][0]["sequenceData"]["files"]
    vcf = files[1]
    plain = gzip.decompress(s.plain[vcf["filePath"]])
    vcf["filePath"] = "donor_001/lab0.vcf"
    vcf["fileChecksum"] = hashlib.sha256(plain).hexdigest()
    vcf["fileSizeInBytes"] = len(plain)
    (s.root / "files" / "donor_001" / "lab0.vcf.gz.c4gh").unlink()
    encrypt(plain, s.root / "files" / "donor_001" / "lab0.vcf.c4gh", keys)
    (s.root / "metadata" / "metadata.json").write_text(json.dumps(s.metadata))
    register = PruefberichtRegister(ctx.engine, is_approved=lambda p: p == GRZ_ID)
    done = _service(ctx, tmp_path, keys, register).run(s.submission_id)
    assert done.state is State.finished, done.error_detail
    vcf_result = next(f for f in done.files if f.file_type == "vcf")
    obj = ctx.get(GenomicCatalogue).get(vcf_result.catalogue_id)  # type: ignore[type-abstract]
    assert obj is not None and obj.kind.value == "variants" and obj.index_key
