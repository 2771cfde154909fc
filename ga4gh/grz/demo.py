"""`genomseq serve --demo` for the GRZ: one synthetic grz-cli submission taken in for real.

The submission follows BfArM's GRZ metadata schema v1.3.0 (the ``wgs_lr_tumor_only`` example
shape: one index donor, one lab datum with a BAM and a VCF). The files are written with pysam
into ``<data_dir>/grz-demo``, Crypt4GH-encrypted (GA4GH Crypt4GH v1) by a generated hospital
key to the GRZ's public key (the GRZ key pair is generated too if the deployment has none),
and run through the same intake as ``genomseq grz intake``: trust center tanG exchange,
decryption, checksums, index, catalogue, Prüfbericht and QC. Nothing identifying is real: the
tanG is random, the KVNR is a gematik test number.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pysam
from crypt4gh import lib as c4gh_lib
from crypt4gh import sodium

from ga4gh.grz.core.states import State, Submission
from ga4gh.grz.service import grz_id, private_key_path
from ga4gh.grz.storage.crypt4gh_files import generate_keypair, load_private_key
from ga4gh.grz.storage.inbox import FolderInbox
from ga4gh.grz.storage.sql import SqlSubmissionStore

SUBMITTER_ID = "260326822"  # the IK the trust center's demo case uses
SUBMISSION_DATE = "2026-01-15"
CONTIG = ("chr1", 10_000)
READ_LENGTH = 100
READS = 12_000  # 120x over the contig: above BfArM's 100x minimum for tumor WGS
DECLARED_DEPTH = 120
TEST_KVNR = "X110411675"  # gematik test KVNR, as the trust center's demo


@dataclass(frozen=True)
class DemoSubmission:
    """The seeded submission and where its files went in the catalogue."""

    submission: Submission
    created: bool

    @property
    def catalogue_ids(self) -> dict[str, str]:
        """Declared file path -> catalogue id (empty while not archived)."""
        return {f.file_path: f.catalogue_id for f in self.submission.files if f.catalogue_id}


def demo_dir(ctx: Any) -> Path:
    """<data_dir>/grz-demo: the demo inbox, the hospital's key and the plaintext sources."""
    return Path(ctx.settings.data_dir) / "grz-demo"


def _marker(ctx: Any) -> Path:
    return demo_dir(ctx) / "submission-id"


def _grz_public_key(ctx: Any) -> bytes:
    secret = private_key_path(ctx)
    if not secret.exists():
        generate_keypair(secret, secret.with_suffix(".pub"))
    return bytes(sodium.derive_pk(load_private_key(secret)))


def _hospital_secret(directory: Path) -> bytes:
    secret = directory / "hospital.sec"
    if not secret.exists():
        generate_keypair(secret, directory / "hospital.pub", comment="demo hospital")
    return load_private_key(secret)


def _write_bam(path: Path, rng: random.Random) -> None:
    name, length = CONTIG
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": name, "LN": length}]}
    reference = "".join(rng.choice("ACGT") for _ in range(length))
    starts = sorted(rng.randrange(0, length - READ_LENGTH) for _ in range(READS))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, start in enumerate(starts):
            a = pysam.AlignedSegment(out.header)
            a.query_name = f"read{i:05d}"
            a.query_sequence = reference[start : start + READ_LENGTH]
            a.flag = 0
            a.reference_id = 0
            a.reference_start = start
            a.mapping_quality = 60
            a.cigartuples = [(0, READ_LENGTH)]
            a.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
            out.write(a)


def _write_vcf(path: Path, rng: random.Random) -> None:
    name, length = CONTIG
    header = pysam.VariantHeader()
    header.add_line(f"##contig=<ID={name},length={length}>")
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_sample("index")
    with pysam.VariantFile(str(path), "wz", header=header) as out:
        for pos in sorted(rng.sample(range(1, length), 40)):
            ref, alt = rng.sample("ACGT", 2)
            rec = out.new_record(contig=name, start=pos - 1, stop=pos, alleles=(ref, alt))
            rec.samples["index"]["GT"] = (0, 1)
            out.write(rec)


def _file_entry(path: str, file_type: str, data: Path) -> dict[str, object]:
    entry: dict[str, object] = {
        "filePath": path,
        "fileType": file_type,
        "checksumType": "sha256",
        "fileChecksum": hashlib.sha256(data.read_bytes()).hexdigest(),
        "fileSizeInBytes": data.stat().st_size,
    }
    if file_type == "bam":
        entry["readLength"] = READ_LENGTH
    return entry


def demo_metadata(
    tan_g: str, genomic_data_center_id: str, files: list[dict[str, object]]
) -> dict[str, Any]:
    """metadata.json of the demo submission (GRZ schema v1.3.0, long-read WGS tumor-only)."""
    today = date.today().isoformat()
    return {
        "$schema": "https://raw.githubusercontent.com/BfArM-MVH/MVGenomseq/refs/tags/v1.3.0/"
        "GRZ/grz-schema.json",
        "submission": {
            "submissionDate": SUBMISSION_DATE,
            "submissionType": "initial",
            "tanG": tan_g,
            "localCaseId": "DEMO-CASE-1",
            "coverageType": "GKV",
            "submitterId": SUBMITTER_ID,
            "genomicDataCenterId": genomic_data_center_id,
            "clinicalDataNodeId": "KDKD00001",
            "diseaseType": "oncological",
            "genomicStudyType": "single",
            "genomicStudySubtype": "tumor-only",
            "labName": "Demo Lab",
        },
        "donors": [
            {
                "donorPseudonym": "index",
                "gender": "other",
                "relation": "index",
                "mvConsent": {
                    "presentationDate": today,
                    "version": "1.0",
                    "scope": [{"type": "permit", "date": today, "domain": "mvSequencing"}],
                },
                "researchConsents": [_research_consent(today)],
                "labData": [
                    {
                        "labDataName": "Blood DNA tumor",
                        "tissueOntology": {"name": "UBERON", "version": "1.5"},
                        "tissueTypeId": "UBERON:0000178",
                        "tissueTypeName": "blood",
                        "sampleDate": today,
                        "sampleConservation": "cryo-frozen",
                        "sequenceType": "dna",
                        "sequenceSubtype": "somatic",
                        "fragmentationMethod": "none",
                        "libraryType": "wgs_lr",
                        "libraryPrepKit": "Demo Template Prep Kit",
                        "libraryPrepKitManufacturer": "PacBio",
                        "sequencerModel": "PacBio Sequel II",
                        "sequencerManufacturer": "PacBio",
                        "kitName": "Demo Template Prep Kit",
                        "kitManufacturer": "PacBio",
                        "enrichmentKitManufacturer": "other",
                        "enrichmentKitDescription": "none",
                        "barcode": "NA",
                        "sequencingLayout": "single-end",
                        "tumorCellCount": [{"count": 80, "method": "bioinformatics"}],
                        "sequenceData": {
                            "bioinformaticsPipelineName": "demo",
                            "bioinformaticsPipelineVersion": "1.0",
                            "referenceGenome": "GRCh38",
                            "percentBasesAboveQualityThreshold": {
                                "minimumQuality": 20,
                                "percent": 88,
                            },
                            "meanDepthOfCoverage": DECLARED_DEPTH,
                            "minCoverage": 30,
                            "targetedRegionsAboveMinCoverage": 0.9,
                            "nonCodingVariants": True,
                            "callerUsed": [{"name": "demo-caller", "version": "1.0"}],
                            "files": files,
                        },
                    }
                ],
            }
        ],
    }


def _research_consent(today: str) -> dict[str, Any]:
    """MII broad consent (FHIR Consent) permitting PATDAT_erheben_speichern_nutzen."""
    mii = "urn:oid:2.16.840.1.113883.3.1937.777.24"
    return {
        "schemaVersion": "2025.0.1",
        "presentationDate": today,
        "scope": {
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "research",
                    }
                ]
            },
            "category": [
                {"coding": [{"system": "http://loinc.org", "code": "57016-8"}]},
                {
                    "coding": [
                        {
                            "system": "https://www.medizininformatik-initiative.de/fhir/"
                            "modul-consent/CodeSystem/mii-cs-consent-consent_category",
                            "code": "2.16.840.1.113883.3.1937.777.24.2.184",
                        }
                    ]
                },
            ],
            "patient": {"reference": "Patient/demo-index"},
            "dateTime": today,
            "policy": [{"uri": f"{mii}.2.1791"}],
            "provision": {
                "type": "deny",
                "period": {"start": today, "end": "2055-12-31"},
                "provision": [
                    {
                        "code": [
                            {
                                "coding": [
                                    {
                                        "system": f"{mii}.5.3",
                                        "code": "2.16.840.1.113883.3.1937.777.24.5.3.1",
                                        "display": "PATDAT_erheben_speichern_nutzen",
                                    }
                                ]
                            }
                        ],
                        "type": "permit",
                        "period": {"start": today, "end": "2055-12-31"},
                    }
                ],
            },
        },
    }


def submission_id_of(metadata: dict[str, Any]) -> str:
    """grz-cli's inbox prefix: {submitterId}_{submissionDate}_{sha256(tanG)[:8]}."""
    s = metadata["submission"]
    digest = hashlib.sha256(s["tanG"].encode()).hexdigest()[:8]
    return f"{s['submitterId']}_{s['submissionDate']}_{digest}"


def write_submission(ctx: Any, inbox: Path, tan_g: str) -> str:
    """Write the encrypted demo submission into ``inbox``; returns its submission id."""
    work = demo_dir(ctx) / "plain"
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20260115)
    bam, vcf = work / "tumor.bam", work / "tumor.vcf.gz"
    _write_bam(bam, rng)
    _write_vcf(vcf, rng)
    files = {"donor_001/tumor.bam": ("bam", bam), "donor_001/tumor_var.vcf.gz": ("vcf", vcf)}
    meta = demo_metadata(
        tan_g, grz_id(ctx), [_file_entry(p, t, src) for p, (t, src) in files.items()]
    )
    sid = submission_id_of(meta)
    root = inbox / sid
    sender, recipient = _hospital_secret(demo_dir(ctx)), _grz_public_key(ctx)
    for rel, (_, src) in files.items():
        target = root / "files" / (rel + ".c4gh")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as i, open(target, "wb") as o:
            c4gh_lib.encrypt([(0, sender, recipient)], i, o)
    # grz-cli uploads metadata.json last: it marks the submission complete.
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "metadata.json").write_text(json.dumps(meta, indent=2))
    for src in (bam, vcf):
        src.unlink()
    return sid


def _approve_grz(ctx: Any) -> None:
    """The platform provider accepts Prüfberichte from approved participants only."""
    from platform_provider.ports import ParticipantDirectory
    from platform_provider.service import PlatformService

    directory = ctx.find(ParticipantDirectory)
    service = ctx.find(PlatformService)
    if directory is None or service is None:
        return
    if not directory.is_approved(grz_id(ctx), "genome-data-center"):
        service.register_participant(
            grz_id(ctx),
            "genome-data-center",
            "Demo Genomrechenzentrum (this deployment)",
            actor="demo-seed",
            create_client=False,
        )


def seed_submission(ctx: Any) -> DemoSubmission | None:
    """Take the demo submission in once (again only if the database forgot it); None when
    this deployment has no in-process trust center to register the demo tanG with."""
    from trust_center.service import TrustCenterService

    store = SqlSubmissionStore(ctx.engine)
    marker = _marker(ctx)
    if marker.is_file():
        existing = store.get(marker.read_text().strip())
        if existing is not None and existing.terminal:
            return DemoSubmission(existing, created=False)
    trust_center = ctx.find(TrustCenterService)
    if trust_center is None:
        return None
    from ga4gh.grz.wiring_support import intake_for

    _approve_grz(ctx)
    # A fresh tanG per seeding: the trust center accepts each tanG once.
    tan_g, tan_c = secrets.token_hex(32), secrets.token_hex(32)
    trust_center.register_case(
        ik=SUBMITTER_ID,
        arbeitsnummer=f"DEMO-GRZ-{secrets.token_hex(4)}",
        kvnr=TEST_KVNR,
        actor="demo-seed",
        tan_g=tan_g,
        tan_c=tan_c,
    )
    inbox = demo_dir(ctx) / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)  # a submission the database no longer knows
    sid = write_submission(ctx, inbox, tan_g)
    done = intake_for(ctx, FolderInbox(inbox)).run(sid)
    marker.write_text(sid + "\n")
    return DemoSubmission(done, created=True)


def seed_demo(ctx: Any) -> list[str]:
    """`serve --demo`: the seeded submission's status and how to read its files."""
    seeded = seed_submission(ctx)
    if seeded is None:
        return ["grz: no in-process trust center, so no demo submission was seeded"]
    sub = seeded.submission
    sid = sub.submission_id
    lines = [
        f"grz: demo submission {sid} {'taken in' if seeded.created else 'already seeded'}: "
        f"{sub.state.value}" + (f" ({sub.error_reason})" if sub.error_reason else ""),
        f"genomseq grz status {sid}",
        f"curl '{{base}}/grz/submissions/{sid}'",
    ]
    if sub.state is State.finished:
        ids = seeded.catalogue_ids
        bam = ids.get("donor_001/tumor.bam")
        vcf = ids.get("donor_001/tumor_var.vcf.gz")
        if bam:
            lines.append(
                f"samtools view -c '{{base}}/ga4gh/htsget/v1/reads/{bam}?referenceName=chr1"
                "&start=0&end=5000'"
            )
        if vcf:
            lines.append(f"curl '{{base}}/ga4gh/drs/v1/objects/{vcf}'")
    return lines
