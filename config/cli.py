"""The ``genomseq`` command line (Flask CLI conventions: ``genomseq --help`` lists everything).

Component command groups come from config.wiring; this module holds the commands that belong
to the deployment as a whole: serve and db.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import socket
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from common import migrations
from config.app import build_context, create_app
from config.context import AppContext, app_context
from config.settings import Settings, SettingsError, load_settings

log = logging.getLogger("genomseq")


def _create_app() -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def cli() -> None:
    """genomseq: FHIR R4 clinical data node, GA4GH genome data center, trust center and
    platform provider of a national genomic-medicine data platform."""


def upgrade_all(ctx: AppContext) -> list[str]:
    """Apply every component's migrations to its database; returns the component names."""
    from config.wiring import components

    done = []
    for component in components():
        for mset in component.migrations:
            if mset.database == "trust_center" and ctx.settings.trust_center.url:
                continue  # a remote trust center migrates its own database
            engine = ctx.trust_center_engine if mset.database == "trust_center" else ctx.engine
            migrations.upgrade(engine, mset)
            done.append(mset.name)
    return done


@cli.group()
def db() -> None:
    """Database schema: apply and inspect migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (main database and the trust center's own database)."""
    ctx = build_context(load_settings())
    names = upgrade_all(ctx)
    click.echo(f"schema up to date: {', '.join(names) or 'nothing to migrate'}")


@db.command("current")
def db_current() -> None:
    """Show each component's schema revision."""
    from config.wiring import components

    ctx = build_context(load_settings())
    for component in components():
        for mset in component.migrations:
            if mset.database == "trust_center" and ctx.settings.trust_center.url:
                continue
            engine = ctx.trust_center_engine if mset.database == "trust_center" else ctx.engine
            click.echo(f"{mset.name}: {migrations.current(engine, mset) or '(none)'}")


def is_loopback(host: str) -> bool:
    """True if the host name or address only reaches this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


class _Gunicorn:
    """Runs the app factory under gunicorn (imported lazily: tests do not need it)."""

    @staticmethod
    def run(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
        from gunicorn.app.base import BaseApplication

        class App(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                self.cfg.set("bind", f"{host}:{port}")
                self.cfg.set("workers", workers)
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", threads)
                self.cfg.set("timeout", 120)
                self.cfg.set("accesslog", None)

            def load(self) -> Any:
                app = create_app(settings)
                # Everything built at start-up (models, registries, compiled statements) lives
                # as long as the worker: keep it out of the cyclic GC, whose full collections
                # otherwise pause requests for tens of milliseconds.
                gc.collect()
                gc.freeze()
                return app

        App().run()


@cli.command("serve")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@click.option("--threads", type=int, default=2, show_default=True, help="Threads per worker.")
@click.option("--demo", is_flag=True, help="Seed a small synthetic data set first.")
def serve(
    host: str | None, port: int | None, workers: int | None, threads: int, demo: bool
) -> None:
    """Run the server under gunicorn (migrations are applied first)."""
    from config.wiring import components

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    # Components derive their public URLs (e.g. the OAuth issuer) from the bound address.
    settings = settings.replace(host=host, port=port, workers=workers)
    if settings.authorization == "off" and not is_loopback(host):
        raise click.ClickException(
            f"refusing to bind {host}: GENOMSEQ_AUTHORIZATION=off is for local development "
            "and only binds loopback addresses (127.0.0.1, ::1, localhost)"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The fully wired app: demo seeders use the same services as the HTTP API.
    ctx = app_context(create_app(settings))
    upgrade_all(ctx)
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if demo:
        click.echo("seeding demo data ...")
        for component in components():
            if component.seed_demo:
                for example in component.seed_demo(ctx):
                    click.echo("  " + example.replace("{base}", base))
    ctx.engine.dispose()
    ctx.trust_center_engine.dispose()
    click.echo(f"genomseq listening on {base} ({workers} workers x {threads} threads)")
    if settings.authorization == "off":
        click.echo("WARNING: authorization is OFF (GENOMSEQ_AUTHORIZATION=off)", err=True)
    _Gunicorn.run(settings, host, port, workers, threads)


def _add_component_commands() -> None:
    from config.wiring import components

    for component in components():
        for command in component.commands:
            cli.add_command(command)


_add_component_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="genomseq")
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


__all__ = ["app_context", "cli", "main", "upgrade_all", "with_appcontext"]
