"""Researchers see the FHIR API in their project's terms (fhir_server.core.project_view).

Two hooks on the FHIR blueprint, installed through ``FhirApi.extensions`` so the handlers stay
as they are: after authentication, a request of a researcher (a broker access token of a
person) selects its project (``ga4gh.passport.core.projects``), restricts the enforcement to
that project's grants and maps the ids of the URL and the search parameters back to the
node's; after the handler, the JSON answer (resource, Bundle or OperationOutcome) is
rewritten into the project's ids and pseudonyms. Machine clients (client credentials),
static operator tokens and unrestricted principals see the stored data unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import orjson
from flask import Blueprint, Response, g, request
from werkzeug.datastructures import ImmutableMultiDict

from common.errors import GenomseqError
from config.context import app_context
from fhir_server.core.project_view import (
    IdCipher,
    ProjectView,
    project_domain,
    project_key,
)
from fhir_server.core.search.registry import Registry
from fhir_server.http.api import FhirApi
from fhir_server.http.errors import error_response
from fhir_server.http.negotiation import pretty

SECRET_NAME = "fhir-project-view"  # noqa: S105 (a key file name)
# Route arguments holding a logical id, and where the id's resource type comes from.
_ID_ARGS = (("res_id", "res_type"), ("comp_id", "comp_type"), ("patient_id", "Patient"))


def install(api: FhirApi, registry: Registry | None = None) -> None:
    """Add the project view hooks to the FHIR blueprint ``api`` builds."""
    api.extensions.append(lambda bp, a: _hooks(bp, a, registry))


def is_researcher(principal: Any) -> bool:
    """A broker access token of a person (not a machine client, not unrestricted)."""
    from ga4gh.passport.core.clearinghouse import TokenPrincipal

    return (isinstance(principal, TokenPrincipal) and not principal.system
            and not principal.unrestricted)


def build_view(api: FhirApi, principal: Any) -> ProjectView:
    """The project view of one researcher request (selects the project, 400/403 if unclear)."""
    from ga4gh.passport.core.projects import PROJECT_HEADER, select_project
    from ga4gh.passport.enforcement import Enforcer, act_for_project

    ctx = app_context()
    enforcer = ctx.find(Enforcer)
    grants: list[Any] = enforcer.active_grants(principal) if enforcer is not None else []
    project = select_project(grants, request.headers.get(PROJECT_HEADER))
    act_for_project(project)
    node_domain = f"kdk:{ctx.settings.trust_center.clinical_data_node_id}"
    if project is None:
        # No grant of any project: nothing is visible; no id decodes and no pseudonym passes.
        return ProjectView("-", node_domain, IdCipher(secrets.token_bytes(64)),
                           lambda values: {}, (api.base_url(),))
    key = project_key(ctx.keys.secret(SECRET_NAME), project)
    return ProjectView(project, node_domain, IdCipher(key), _translator(node_domain, project),
                       (api.base_url(),))


def _translator(node_domain: str, project: str) -> Any:
    from trust_center.ports import PseudonymService

    service = app_context().find(PseudonymService)  # type: ignore[type-abstract]
    target = project_domain(project)

    def translate(values: Sequence[str]) -> dict[str, str]:
        if service is None:
            return {}  # no trust center: no project pseudonyms, so none are shown
        return dict(service.translate_to_project(node_domain, target, values))

    return translate


def _hooks(bp: Blueprint, api: FhirApi, registry: Registry | None) -> None:
    def reference_targets(res_type: str, code: str) -> Sequence[str] | None:
        sp = registry.get(res_type, code) if registry is not None else None
        return sp.target if sp is not None and sp.type == "reference" else None

    @bp.before_request
    def _enter_project_view() -> None:
        principal = g.get("principal")
        if principal is None or not is_researcher(principal):
            return
        view = g.project_view = build_view(api, principal)
        args = request.view_args if request.view_args is not None else {}
        for id_arg, type_arg in _ID_ARGS:
            if id_arg in args:
                res_type = args.get(type_arg, type_arg)
                args[id_arg] = view.id_in(res_type, args[id_arg])
        # System-level interactions (search, history) have no type: their cursors and
        # `_id` are mapped as for a type (`Resource` ids decode nowhere: 404).
        res_type = args.get("res_type", "Resource")
        if request.args:
            request.args = ImmutableMultiDict(  # type: ignore[misc]
                view.params_in(res_type, list(request.args.items(multi=True)),
                               reference_targets))
        if request.method == "POST" and request.form:
            request.form = ImmutableMultiDict(  # type: ignore[misc]
                view.params_in(res_type, list(request.form.items(multi=True)),
                               reference_targets))

    @bp.after_request
    def _leave_project_view(resp: Response) -> Response:
        view: ProjectView | None = g.get("project_view")
        if view is None or resp.status_code == 304 or not resp.is_json:
            return resp
        try:
            doc = orjson.loads(resp.get_data())
            if isinstance(doc, dict):
                view.resource_out(doc)
        except GenomseqError as exc:
            failed = error_response(exc)
            return failed
        except orjson.JSONDecodeError:
            return resp
        resp.set_data(orjson.dumps(doc, option=orjson.OPT_INDENT_2 if pretty(request) else 0))
        return resp
