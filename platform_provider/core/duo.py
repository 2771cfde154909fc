"""GA4GH Data Use Ontology (DUO) matching of a research purpose against data-use terms.

Spec: GA4GH Data Use Ontology, release 2021-02-23 (http://purl.obolibrary.org/obo/duo.owl),
the "data use permission" branch (DUO:0000001) and the "data use modifier" branch
(DUO:0000017); the term definitions below follow the ontology's ``IAO:0000115`` text.
Permissions form the hierarchy NRES > GRU > {HMB > DS, POA}: a broader permission covers
the narrower research purposes under it (GRU's definition names health/medical research,
population origins and methods development; HMB's definition excludes population origins).

Three outcomes:
- ``match``: every term is satisfied by what the application declares;
- ``no_match``: at least one term is violated (nothing is granted);
- ``needs_review``: nothing is violated, but some term cannot be decided by machine
  (RS, PS, COL, disease codes that are not identical) and a person of the platform provider
  must confirm it before a grant may be issued.
Obligations (PUB, RTN, MOR) are listed so the register and the grant holder see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from common.errors import InvalidInput


@dataclass(frozen=True)
class DuoTerm:
    """One DUO class: CURIE, shorthand and label."""

    curie: str
    shorthand: str
    label: str
    kind: str  # "permission" or "modifier"


_TERMS = [
    DuoTerm("DUO:0000004", "NRES", "no restriction", "permission"),
    DuoTerm("DUO:0000042", "GRU", "general research use", "permission"),
    DuoTerm("DUO:0000006", "HMB", "health or medical or biomedical research", "permission"),
    DuoTerm("DUO:0000007", "DS", "disease specific research", "permission"),
    DuoTerm("DUO:0000011", "POA", "population origins or ancestry research only", "permission"),
    DuoTerm("DUO:0000012", "RS", "research specific restrictions", "modifier"),
    DuoTerm("DUO:0000015", "NMDS", "no general methods research", "modifier"),
    DuoTerm("DUO:0000016", "GSO", "genetic studies only", "modifier"),
    DuoTerm("DUO:0000018", "NPUNCU", "not for profit, non commercial use only", "modifier"),
    DuoTerm("DUO:0000019", "PUB", "publication required", "modifier"),
    DuoTerm("DUO:0000020", "COL", "collaboration required", "modifier"),
    DuoTerm("DUO:0000021", "IRB", "ethics approval required", "modifier"),
    DuoTerm("DUO:0000022", "GS", "geographical restriction", "modifier"),
    DuoTerm("DUO:0000024", "MOR", "publication moratorium", "modifier"),
    DuoTerm("DUO:0000025", "TS", "time limit on use", "modifier"),
    DuoTerm("DUO:0000026", "US", "user specific restriction", "modifier"),
    DuoTerm("DUO:0000027", "PS", "project specific restriction", "modifier"),
    DuoTerm("DUO:0000028", "IS", "institution specific restriction", "modifier"),
    DuoTerm("DUO:0000029", "RTN", "return to database or resource", "modifier"),
    DuoTerm("DUO:0000043", "CC", "clinical care use", "modifier"),
    DuoTerm(
        "DUO:0000044", "NPOA", "population origins or ancestry research prohibited", "modifier"
    ),
    DuoTerm("DUO:0000045", "NPU", "not for profit organisation use only", "modifier"),
    DuoTerm("DUO:0000046", "NCU", "non-commercial use only", "modifier"),
]
TERMS: dict[str, DuoTerm] = {t.curie: t for t in _TERMS}
_BY_SHORTHAND: dict[str, DuoTerm] = {t.shorthand: t for t in _TERMS}

NRES, GRU, HMB, DS, POA = "DUO:0000004", "DUO:0000042", "DUO:0000006", "DUO:0000007", "DUO:0000011"
RESEARCH_PURPOSES = (GRU, HMB, DS, POA)
# Research purposes each permission covers (the permission hierarchy, transitively closed).
_COVERS: dict[str, frozenset[str]] = {
    NRES: frozenset({GRU, HMB, DS, POA}),
    GRU: frozenset({GRU, HMB, DS, POA}),
    HMB: frozenset({HMB, DS}),
    DS: frozenset({DS}),
    POA: frozenset({POA}),
}


def term(code: str) -> DuoTerm:
    """The DUO term for a CURIE (``DUO:0000006``) or shorthand (``HMB``)."""
    found = TERMS.get(code) or _BY_SHORTHAND.get(code.upper())
    if found is None:
        raise InvalidInput(f"unknown or unsupported DUO term {code!r}")
    return found


class Outcome(StrEnum):
    """Result of matching one purpose against one dataset's terms."""

    MATCH = "match"
    NO_MATCH = "no_match"
    NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class DataUseTerms:
    """A dataset's data-use conditions: one permission and its modifiers with parameters.

    Parameters: ``diseases`` (DS; MONDO/ICD CURIEs), ``countries`` (GS; ISO 3166-1 alpha-2),
    ``time_limit`` (TS; last day of permitted use), ``moratorium_until`` (MOR),
    ``users`` (US; subjects), ``institutions`` (IS), ``projects`` (PS; application ids).
    """

    permission: str
    modifiers: frozenset[str] = frozenset()
    diseases: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    time_limit: date | None = None
    moratorium_until: date | None = None
    users: tuple[str, ...] = ()
    institutions: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        perm = term(self.permission)
        if perm.kind != "permission":
            raise InvalidInput(f"{perm.shorthand} is a modifier, not a data use permission")
        object.__setattr__(self, "permission", perm.curie)
        mods = set()
        for code in self.modifiers:
            mod = term(code)
            if mod.kind != "modifier":
                raise InvalidInput(f"{mod.shorthand} is a permission, not a data use modifier")
            mods.add(mod.curie)
        object.__setattr__(self, "modifiers", frozenset(mods))
        needs = {
            DS: ("diseases", self.permission == DS),
            "DUO:0000022": ("countries", "DUO:0000022" in mods),
            "DUO:0000025": ("time_limit", "DUO:0000025" in mods),
            "DUO:0000024": ("moratorium_until", "DUO:0000024" in mods),
            "DUO:0000026": ("users", "DUO:0000026" in mods),
            "DUO:0000028": ("institutions", "DUO:0000028" in mods),
        }
        for code, (param, required) in needs.items():
            if required and not getattr(self, param):
                raise InvalidInput(f"{TERMS[code].shorthand} requires {param}")

    def codes(self) -> list[str]:
        """The permission and modifiers as CURIEs, permission first."""
        return [self.permission, *sorted(self.modifiers)]


@dataclass(frozen=True)
class ResearchPurpose:
    """What an application declares about its research, in DUO's terms.

    ``category`` is the DUO research category (GRU, HMB, DS or POA) the project falls under;
    the flags answer what the modifiers ask about.
    """

    category: str
    diseases: tuple[str, ...] = ()
    commercial: bool = False
    for_profit_organisation: bool = False
    methods_development: bool = False
    genetic_study: bool = True
    population_ancestry: bool = False
    clinical_care: bool = False
    publication_planned: bool = True
    collaboration_agreed: bool = False
    return_of_results_agreed: bool = False
    country: str = "DE"

    def __post_init__(self) -> None:
        cat = term(self.category)
        if cat.curie not in RESEARCH_PURPOSES:
            raise InvalidInput("purpose category must be one of GRU, HMB, DS, POA")
        object.__setattr__(self, "category", cat.curie)
        if cat.curie == DS and not self.diseases:
            raise InvalidInput("a disease-specific purpose (DS) names at least one disease")
        if len(self.country) != 2 or not self.country.isalpha():
            raise InvalidInput("country must be an ISO 3166-1 alpha-2 code")
        object.__setattr__(self, "country", self.country.upper())


@dataclass(frozen=True)
class RequestContext:
    """Facts of the application the modifiers check besides the purpose."""

    application_id: str
    institution: str
    users: tuple[str, ...]
    ethics_vote: str
    requested_from: date
    requested_until: date


@dataclass(frozen=True)
class MatchResult:
    """Outcome with the reasons for every term that was not a plain match."""

    outcome: Outcome
    reasons: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    # TS caps the validity of a grant at the dataset's time limit (exclusive end).
    valid_until_cap: date | None = None


@dataclass
class _Collector:
    no: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    obligations: list[str] = field(default_factory=list)


def match(purpose: ResearchPurpose, terms: DataUseTerms, request: RequestContext) -> MatchResult:
    """Match one research purpose against one dataset's data-use terms."""
    c = _Collector()
    _check_permission(purpose, terms, c)
    mods = terms.modifiers
    cap: date | None = None

    def has(shorthand: str) -> bool:
        return _BY_SHORTHAND[shorthand].curie in mods

    if has("NPOA") and (purpose.category == POA or purpose.population_ancestry):
        c.no.append("NPOA: population origins or ancestry research is prohibited")
    if has("NCU") and purpose.commercial:
        c.no.append("NCU: only non-commercial use is permitted")
    if has("NPU") and purpose.for_profit_organisation:
        c.no.append("NPU: only not-for-profit organisations may use the data")
    if has("NPUNCU") and (purpose.commercial or purpose.for_profit_organisation):
        c.no.append("NPUNCU: only not-for-profit, non-commercial use is permitted")
    if has("GSO") and not purpose.genetic_study:
        c.no.append("GSO: use is limited to genetic studies")
    if has("NMDS") and purpose.methods_development:
        # NMDS allows methods development only within the other limitations; a purpose that
        # declares general methods research is outside them.
        c.no.append("NMDS: general methods research is not permitted")
    if purpose.clinical_care and not has("CC"):
        c.no.append("clinical care use is not permitted (no CC modifier)")
    if has("IRB") and not request.ethics_vote.strip():
        c.no.append("IRB: an ethics approval is required and none is referenced")
    if has("PUB"):
        if purpose.publication_planned:
            c.obligations.append("PUB: results must be published")
        else:
            c.no.append("PUB: publication is required and the application does not plan it")
    if has("GS") and purpose.country not in {x.upper() for x in terms.countries}:
        c.no.append(f"GS: use is restricted to {', '.join(sorted(terms.countries))}")
    if has("IS") and request.institution not in terms.institutions:
        c.no.append("IS: the applicant institution is not among the permitted institutions")
    if has("US"):
        outside = [u for u in request.users if u not in terms.users]
        if outside:
            c.no.append(f"US: {len(outside)} authorized user(s) are not among the permitted users")
    if has("TS"):
        assert terms.time_limit is not None
        if request.requested_from > terms.time_limit:
            c.no.append(f"TS: use ended on {terms.time_limit.isoformat()}")
        else:
            cap = terms.time_limit
            if request.requested_until > terms.time_limit:
                c.obligations.append(f"TS: access ends on {terms.time_limit.isoformat()}")
    if has("MOR"):
        assert terms.moratorium_until is not None
        c.obligations.append(f"MOR: no publication before {terms.moratorium_until.isoformat()}")
    if has("RTN"):
        if purpose.return_of_results_agreed:
            c.obligations.append("RTN: derived data must be returned to the resource")
        else:
            c.review.append("RTN: return of derived data has not been agreed")
    if has("COL"):
        if purpose.collaboration_agreed:
            c.review.append("COL: the declared collaboration must be confirmed by a person")
        else:
            c.no.append("COL: collaboration with the data providers is required")
    if has("PS") and request.application_id not in terms.projects:
        c.review.append("PS: use is restricted to specific projects; a person must decide")
    if has("RS"):
        c.review.append("RS: research-specific restrictions must be checked by a person")
    if c.no:
        outcome = Outcome.NO_MATCH
    elif c.review:
        outcome = Outcome.NEEDS_REVIEW
    else:
        outcome = Outcome.MATCH
    return MatchResult(outcome, tuple(c.no + c.review), tuple(c.obligations), cap)


def _check_permission(purpose: ResearchPurpose, terms: DataUseTerms, c: _Collector) -> None:
    covered = _COVERS[terms.permission]
    perm = TERMS[terms.permission].shorthand
    if purpose.category not in covered:
        c.no.append(
            f"{perm}: the permission does not cover {TERMS[purpose.category].shorthand} research"
        )
        return
    if purpose.category == DS and terms.permission == DS:
        # Disease hierarchies (MONDO) are not resolved here: identical codes match, any other
        # disease might be a subclass and needs a person's decision.
        unknown = [d for d in purpose.diseases if d not in terms.diseases]
        if unknown:
            c.review.append(
                "DS: the requested disease(s) are not identical to the permitted ones "
                f"({', '.join(terms.diseases)}); a person must decide whether they are subclasses"
            )


def terms_from_codes(codes: Iterable[str], **params: object) -> DataUseTerms:
    """Build data-use terms from CURIEs/shorthands: the one permission plus modifiers."""
    perms = [term(c) for c in codes if term(c).kind == "permission"]
    mods = frozenset(term(c).curie for c in codes if term(c).kind == "modifier")
    if len(perms) != 1:
        raise InvalidInput("data-use terms have exactly one DUO permission")
    return DataUseTerms(perms[0].curie, mods, **params)  # type: ignore[arg-type]
