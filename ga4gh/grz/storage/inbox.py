"""Inbox adapters: a local folder (default) and an S3-compatible bucket (grz-cli uploads).

Submission ids are the grz-cli inbox prefixes ``{submitterId}_{submissionDate}_{hash8}``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ga4gh.grz.ports import StagedSubmission

SUBMISSION_ID = re.compile(r"^[0-9]{9}_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9a-f]{8}$")


def is_submission_id(value: str) -> bool:
    """True for a well-formed grz-cli submission id."""
    return bool(SUBMISSION_ID.match(value))


class FolderInbox:
    """Submissions as directories under one folder; nothing is copied."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def submission_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and is_submission_id(p.name)
        )

    def stage(self, submission_id: str) -> StagedSubmission:
        return StagedSubmission(submission_id, self.root / submission_id)

    def release(self, submission_id: str) -> None:
        return None  # the upload belongs to the hospital; nothing was copied


class S3Inbox:
    """Submissions under prefixes of an S3-compatible bucket, downloaded to a staging folder.

    grz-cli writes ``metadata/metadata.json`` last, so a prefix without it is still uploading
    and is not listed.
    """

    def __init__(self, client: Any, bucket: str, staging: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.staging = staging

    def submission_ids(self) -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                sid = cp["Prefix"].rstrip("/")
                if is_submission_id(sid) and self._has_metadata(sid):
                    found.append(sid)
        return sorted(found)

    def _has_metadata(self, sid: str) -> bool:
        resp = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=f"{sid}/metadata/metadata.json", MaxKeys=1
        )
        return bool(resp.get("KeyCount"))

    def stage(self, submission_id: str) -> StagedSubmission:
        target = self.staging / submission_id
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=submission_id + "/"):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(submission_id) + 1 :]
                if not rel or rel.endswith("/") or ".." in Path(rel).parts:
                    continue
                dest = target / rel
                if dest.is_file() and dest.stat().st_size == obj["Size"]:
                    continue  # downloaded before a restart
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.bucket, obj["Key"], str(dest))
        return StagedSubmission(submission_id, target)

    def release(self, submission_id: str) -> None:
        shutil.rmtree(self.staging / submission_id, ignore_errors=True)


class FolderArchive:
    """Archive of redacted metadata.json files (one per accepted submission)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_metadata(self, submission_id: str, redacted: dict[str, object]) -> None:
        path = self.root / submission_id / "metadata" / "metadata.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(redacted, indent=2, ensure_ascii=False))
        tmp.replace(path)  # atomic: a crash leaves the old file or the new one

    def remove(self, submission_id: str) -> None:
        shutil.rmtree(self.root / submission_id, ignore_errors=True)

    def get_metadata(self, submission_id: str) -> dict[str, object] | None:
        """The archived (redacted) metadata or None."""
        path = self.root / submission_id / "metadata" / "metadata.json"
        return json.loads(path.read_text()) if path.is_file() else None
