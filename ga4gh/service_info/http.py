"""Flask view of the deployment's GA4GH service-info (``GET /service-info``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ga4gh.service_info.core import ServiceInfo


def service_info_blueprint(info: ServiceInfo) -> Blueprint:
    """A blueprint answering ``GET /service-info`` with the given document."""
    bp = Blueprint("service_info", __name__)

    @bp.get("/service-info")
    def service_info() -> Response:
        return jsonify(info.to_json())

    return bp
