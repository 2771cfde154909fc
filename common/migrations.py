"""Alembic migrations, one script directory per component and database.

Each component keeps its revisions in its own ``migrations/`` directory with its own version
table, so components evolve independently and the trust center's schema can live in a
separate database. The composition root lists the :class:`MigrationSet` of every component.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


@dataclass(frozen=True)
class MigrationSet:
    """One component's migrations: where the scripts are and which database they target."""

    name: str
    package: str  # importable package that holds env.py and versions/
    database: str = "main"  # "main" or "trust_center"

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"


def _config(mset: MigrationSet) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(mset.package)))
    cfg.set_main_option("version_table", mset.version_table)
    return cfg


def upgrade(engine: Engine, mset: MigrationSet, revision: str = "head") -> None:
    """Apply the migrations of one component to the given engine."""
    cfg = _config(mset)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine, mset: MigrationSet) -> str | None:
    """The revision the database is at for this component, or None."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": mset.version_table})
        return ctx.get_current_revision()


def run_env() -> None:
    """Body of every component's env.py: run migrations online on the given connection."""
    from alembic import context

    cfg = context.config
    connection = cfg.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=cfg.get_main_option("version_table"),
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
