"""GA4GH Service Info 1.0.0 (ga4gh-discovery/ga4gh-service-info, service-info.yaml):
the ``Service`` object every GA4GH API publishes at ``/service-info``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GENOMSEQ_VERSION = "0.1.0"


@dataclass(frozen=True)
class ServiceType:
    """``type``: the API a service implements (group, artifact, version)."""

    group: str
    artifact: str
    version: str


@dataclass(frozen=True)
class Organization:
    name: str
    url: str


@dataclass(frozen=True)
class ServiceInfo:
    """A service-info document; ``extra`` carries API-specific blocks (e.g. ``htsget``)."""

    id: str
    name: str
    type: ServiceType
    organization: Organization
    version: str = GENOMSEQ_VERSION
    description: str = ""
    environment: str = "development"
    contact_url: str = ""
    documentation_url: str = ""
    created_at: str = "2026-11-24T00:00:00Z"
    updated_at: str = "2026-11-24T00:00:00Z"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object as the spec names its members."""
        doc: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": {
                "group": self.type.group,
                "artifact": self.type.artifact,
                "version": self.type.version,
            },
            "description": self.description,
            "organization": {"name": self.organization.name, "url": self.organization.url},
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "environment": self.environment,
            "version": self.version,
        }
        if self.contact_url:
            doc["contactUrl"] = self.contact_url
        if self.documentation_url:
            doc["documentationUrl"] = self.documentation_url
        doc.update(self.extra)
        return doc
