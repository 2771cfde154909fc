"""Wiring of the fhir component (FHIR R4 clinical data node)."""

from __future__ import annotations

from flask import Flask

from common.http import register_error_renderer
from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component
from fhir_server.cli import fhir_cli, seed_demo
from fhir_server.core.pipeline import WriteStep
from fhir_server.core.service import FhirService
from fhir_server.http.api import FhirApi, create_blueprint
from fhir_server.http.errors import render_status
from fhir_server.http.search import install as install_search
from fhir_server.storage.ports import SearchIndexer
from fhir_server.storage.search_sql import SqlSearcher, build_searcher
from fhir_server.storage.sql import SqlFhirRepository
from ga4gh.service_info.core import GENOMSEQ_VERSION

MIGRATIONS = (MigrationSet("fhir", "fhir_server.storage.migrations"),)


def build_service(ctx: AppContext) -> FhirService:
    """The FHIR core on the main database, with the search index and write steps wired."""
    if ctx.find(SearchIndexer) is None:
        # The full search index (fhir_server.storage.search_sql), one registry per app.
        searcher = build_searcher(ctx.engine, ctx.keys.secret("fhir-paging"))
        ctx.provide(SqlSearcher, searcher)
        ctx.provide(SearchIndexer, searcher.indexer)
    indexer: SearchIndexer = ctx.get(SearchIndexer)
    step = ctx.find(WriteStep)
    return FhirService(
        SqlFhirRepository(ctx.engine, indexer),
        validate_resources=ctx.settings.fhir.validate,
        write_steps=[step] if step is not None else [],
    )


def wire(app: Flask, ctx: AppContext) -> None:
    settings = ctx.settings
    service = build_service(ctx)
    ctx.provide(FhirService, service)
    api = FhirApi(
        service=service,
        base_path=settings.fhir.base_path,
        paging_key=ctx.keys.secret("fhir-paging"),
        default_page_size=settings.fhir.default_page_size,
        max_page_size=settings.fhir.max_page_size,
        software_version=GENOMSEQ_VERSION,
        public_base_url=settings.public_base_url,
    )
    searcher = ctx.find(SqlSearcher)
    if searcher is not None:
        install_search(api, searcher)
    ctx.provide(FhirApi, api)
    app.register_blueprint(create_blueprint(api))
    register_error_renderer(app, settings.fhir.base_path, render_status)


COMPONENT = Component(
    name="fhir", wire=wire, migrations=MIGRATIONS, commands=(fhir_cli,), seed_demo=seed_demo
)
