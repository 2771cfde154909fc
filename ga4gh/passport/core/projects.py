"""Which research project a researcher's request acts for (§ 64e Abs. 9 SGB V: data are
provided for an approved data-access application; GenDV § 4: under the project's pseudonyms).

A project is a data-access application of the platform provider; a researcher acts for it
through the grants it issued (``Grant.application_id``). Whoever holds active grants of one
application acts for that one; whoever holds grants of several names the project in the
``X-Genomseq-Project`` header (the application id) and is refused without it, because the
answer would otherwise be shown under one project's pseudonyms by guess. A request that acts
for a project is decided on that project's grants only, so one project's view never shows
what was granted to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from common.errors import InvalidInput, PermissionDenied

PROJECT_HEADER = "X-Genomseq-Project"


class ProjectAmbiguous(InvalidInput):
    """Grants of several projects and none named (400)."""


class ProjectNotGranted(PermissionDenied):
    """The named project is not one the caller holds an active grant of (403)."""


def projects_of(grants: Iterable[Any]) -> list[str]:
    """The application ids behind the caller's grants (grants of other issuers have none)."""
    return sorted({g.application_id for g in grants
                   if isinstance(getattr(g, "application_id", None), str) and g.application_id})


def select_project(grants: Sequence[Any], requested: str | None) -> str | None:
    """The project a request acts for; None if the caller holds no project's grant at all
    (then nothing is visible anyway)."""
    projects = projects_of(grants)
    if requested is not None:
        requested = requested.strip()
        if requested not in projects:
            raise ProjectNotGranted(
                f"the {PROJECT_HEADER} header names no project you hold an active grant of")
        return requested
    if len(projects) > 1:
        raise ProjectAmbiguous(
            f"you hold grants of several projects: name the one this request is for in the "
            f"{PROJECT_HEADER} header")
    return projects[0] if projects else None


def within_project[G](grants: list[G], project: str | None) -> list[G]:
    """The grants a request acting for ``project`` may use (all of them if None)."""
    if project is None:
        return grants
    return [g for g in grants if getattr(g, "application_id", None) == project]
