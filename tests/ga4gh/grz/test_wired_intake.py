"""The intake as the deployment wires it: the real trust center (tanG in compatibility mode),
the genomic catalogue and the platform provider's participant directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.context import AppContext
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.grz.core.states import ErrorReason, State
from ga4gh.grz.service import private_key_path
from ga4gh.grz.storage.crypt4gh_files import generate_keypair, load_private_key
from ga4gh.grz.storage.inbox import FolderInbox
from ga4gh.grz.wiring_support import intake_for
from platform_provider.pruefberichte import PruefberichtRegister
from platform_provider.service import PlatformService
from tests.ga4gh.grz.builders import Keys, build_submission, make_keys
from trust_center.service import TrustCenterService

IK = "260326822"
KVNR = "A123456780"


@pytest.fixture()
def grz_keys(ctx: AppContext, tmp_path_factory: pytest.TempPathFactory) -> Keys:
    secret = private_key_path(ctx)
    public = secret.with_suffix(".pub")
    if not secret.exists():
        generate_keypair(secret, public)
    import base64

    hospital = make_keys(tmp_path_factory.mktemp("le"))
    return Keys(
        secret,
        base64.b64decode(public.read_text().splitlines()[1]),
        load_private_key(secret),
        hospital.sender_secret,
    )


@pytest.fixture()
def grz_id(ctx: AppContext) -> str:
    from ga4gh.grz.service import grz_id

    return grz_id(ctx)


def _register_case(ctx: AppContext, tan_g: str, n: int) -> None:
    ctx.get(TrustCenterService).register_case(
        ik=IK, arbeitsnummer=f"AN-{n}", kvnr=KVNR, actor="le", tan_g=tan_g, tan_c=f"{n:064x}"
    )


def _approve(ctx: AppContext, grz_id: str) -> None:
    ctx.get(PlatformService).register_participant(
        grz_id, "genome-data-center", "GRZ test", actor="admin", create_client=False
    )


def _build(tmp_path: Path, keys: Keys, grz_id: str, **kw):  # type: ignore[no-untyped-def]
    import json

    s = build_submission(tmp_path / "inbox", keys, **kw)
    s.metadata["submission"]["genomicDataCenterId"] = grz_id
    (s.root / "metadata" / "metadata.json").write_text(json.dumps(s.metadata))
    return s


def test_wired_intake_exchanges_the_tan_and_reports(
    ctx: AppContext, tmp_path: Path, grz_keys: Keys, grz_id: str
) -> None:
    _approve(ctx, grz_id)
    s = _build(tmp_path, grz_keys, grz_id, seed=41)
    _register_case(ctx, s.tan_g, 1)
    done = intake_for(ctx, FolderInbox(tmp_path / "inbox")).run(s.submission_id)
    assert done.state is State.finished, done.error_detail
    objs = [ctx.get(GenomicCatalogue).get(f.catalogue_id) for f in done.files]  # type: ignore[type-abstract]
    pseudonyms = {o.dataset for o in objs if o}
    assert len(pseudonyms) == 1 and next(iter(pseudonyms)).startswith("k")
    register = ctx.get(PruefberichtRegister)
    mb = register.meldebestaetigung(s.tan_g)
    assert mb is not None and mb.datenknoten_id == grz_id


def test_unknown_tan_at_the_trust_center_is_refused(
    ctx: AppContext, tmp_path: Path, grz_keys: Keys, grz_id: str
) -> None:
    _approve(ctx, grz_id)
    s = _build(tmp_path, grz_keys, grz_id, seed=42)
    done = intake_for(ctx, FolderInbox(tmp_path / "inbox")).run(s.submission_id)
    assert done.error_reason is ErrorReason.validation_error
    assert "trust center refused the tanG" in done.error_detail[0]
    assert ctx.get(GenomicCatalogue).list() == []  # type: ignore[type-abstract]


def test_tan_used_at_the_trust_center_is_a_duplicate(
    ctx: AppContext, tmp_path: Path, grz_keys: Keys, grz_id: str
) -> None:
    _approve(ctx, grz_id)
    s = _build(tmp_path, grz_keys, grz_id, seed=43)
    _register_case(ctx, s.tan_g, 2)
    ctx.get(TrustCenterService).exchange(s.tan_g, f"grz:{grz_id}")
    done = intake_for(ctx, FolderInbox(tmp_path / "inbox")).run(s.submission_id)
    assert done.error_reason is ErrorReason.duplicate_tan


def test_unapproved_grz_cannot_report_and_resumes_once_approved(
    ctx: AppContext, tmp_path: Path, grz_keys: Keys, grz_id: str
) -> None:
    from common.errors import PermissionDenied

    s = _build(tmp_path, grz_keys, grz_id, seed=44)
    _register_case(ctx, s.tan_g, 3)
    service = intake_for(ctx, FolderInbox(tmp_path / "inbox"))
    with pytest.raises(PermissionDenied):
        service.run(s.submission_id)
    assert service.store.get(s.submission_id).state is State.reporting  # type: ignore[union-attr]
    _approve(ctx, grz_id)
    assert service.run(s.submission_id).state is State.finished
