"""Wiring of the deployment-level GA4GH service-info and /health."""

from __future__ import annotations

from flask import Flask

from config.context import AppContext
from config.settings import Settings
from config.wiring import Component
from ga4gh.service_info.core import GENOMSEQ_VERSION, Organization, ServiceInfo, ServiceType
from ga4gh.service_info.http import service_info_blueprint


def deployment_info(settings: Settings, **changes: object) -> ServiceInfo:
    """The deployment's service-info; components derive theirs with other id/type/extra."""
    info = ServiceInfo(
        id=settings.service_id,
        name=settings.service_name,
        type=ServiceType(group="de.genomseq", artifact="genomseq", version=GENOMSEQ_VERSION),
        organization=Organization(settings.organization_name, settings.organization_url),
        description=(
            "Genomic-medicine data platform node: FHIR R4 clinical data node, GA4GH genome "
            "data center APIs, trust center and platform provider services."
        ),
        environment=settings.environment,
    )
    if changes:
        from dataclasses import replace

        info = replace(info, **changes)  # type: ignore[arg-type]
    return info


def wire(app: Flask, ctx: AppContext) -> None:
    app.register_blueprint(service_info_blueprint(deployment_info(ctx.settings)))


COMPONENT = Component(name="service_info", wire=wire)
