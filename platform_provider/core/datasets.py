"""Datasets the platform provider makes available, each with its DUO data-use terms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from common.errors import InvalidInput
from platform_provider.core.applications import DATA_CATEGORIES
from platform_provider.core.duo import DataUseTerms, terms_from_codes

_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True)
class Dataset:
    """A dataset known to the platform provider (held by a KDK/GRZ custodian)."""

    dataset_id: str
    title: str
    description: str
    custodian_id: str | None
    data_categories: tuple[str, ...]
    terms: DataUseTerms
    created_at: datetime


def _date(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an ISO 8601 date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date (YYYY-MM-DD)") from None


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{name} must be a list of non-empty strings")
    return tuple(value)


def terms_from_json(data: Any) -> DataUseTerms:
    """Data-use terms from ``{"codes": ["HMB", "IRB", ...], "countries": [...], ...}``."""
    if not isinstance(data, Mapping):
        raise InvalidInput("data_use must be an object")
    known = {
        "codes",
        "diseases",
        "countries",
        "time_limit",
        "moratorium_until",
        "users",
        "institutions",
        "projects",
    }
    extra = set(data) - known
    if extra:
        raise InvalidInput(f"unknown data_use members: {sorted(extra)}")
    return terms_from_codes(
        _strings(data.get("codes"), "data_use.codes"),
        diseases=_strings(data.get("diseases"), "data_use.diseases"),
        countries=_strings(data.get("countries"), "data_use.countries"),
        time_limit=_date(data.get("time_limit"), "data_use.time_limit"),
        moratorium_until=_date(data.get("moratorium_until"), "data_use.moratorium_until"),
        users=_strings(data.get("users"), "data_use.users"),
        institutions=_strings(data.get("institutions"), "data_use.institutions"),
        projects=_strings(data.get("projects"), "data_use.projects"),
    )


def terms_to_json(terms: DataUseTerms) -> dict[str, Any]:
    """The JSON form :func:`terms_from_json` reads (CURIEs, ISO dates)."""
    out: dict[str, Any] = {"codes": terms.codes()}
    for name in ("diseases", "countries", "users", "institutions", "projects"):
        if getattr(terms, name):
            out[name] = list(getattr(terms, name))
    for name in ("time_limit", "moratorium_until"):
        if getattr(terms, name):
            out[name] = getattr(terms, name).isoformat()
    return out


def new_dataset(
    dataset_id: str,
    *,
    title: str,
    description: str = "",
    custodian_id: str | None = None,
    data_categories: Any,
    data_use: Any,
    at: datetime,
) -> Dataset:
    """A validated dataset record."""
    if not isinstance(dataset_id, str) or not _DATASET_ID.match(dataset_id):
        raise InvalidInput("dataset_id must be 1-128 characters [A-Za-z0-9._:-]")
    if not isinstance(title, str) or not title.strip() or len(title) > 300:
        raise InvalidInput("title must be 1-300 characters")
    if not isinstance(description, str) or len(description) > 5000:
        raise InvalidInput("description must be at most 5000 characters")
    cats = _strings(data_categories, "data_categories")
    bad = [c for c in cats if c not in DATA_CATEGORIES]
    if not cats or bad:
        raise InvalidInput(f"data_categories must be a non-empty subset of {DATA_CATEGORIES}")
    return Dataset(
        dataset_id,
        title.strip(),
        description,
        custodian_id or None,
        cats,
        terms_from_json(data_use),
        at,
    )
