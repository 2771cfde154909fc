"""Pseudonymizing write step of the clinical data node (§ 64e Abs. 10 SGB V; GenDV § 4 and
Anlage IV; FHIR R4 4.0.1: Patient, Reference, Attachment, Meta.security with the
v3-ObservationValue code PSEUDED).

The node stores clinical data only under pseudonyms. Before any resource of a create, update or
transaction/batch is validated and stored, this step:

- Patient: an identifier with system ``urn:genomseq:sid:vorgangsnummer`` carries the case's
  clinical Vorgangsnummer (VNk or tanC); it is exchanged at the trust center, once, for the
  Klinikdatensatzpseudonym, which replaces it (so consent and corrections reach the case).
- Patient, RelatedPerson and Person: removes ``name``, ``telecom``, ``photo`` and ``contact``;
  replaces every ``identifier`` (KVNR, local MRNs, insurance and document numbers) by the
  node's pseudonym of it (same ``use`` and coded ``type``, system = the node's pseudonym
  system, value from the trust center); reduces ``birthDate`` and ``deceasedDateTime`` to
  year and month; reduces each ``address`` to ``country``, ``state`` and, where a municipality
  key is known, ``district`` = the first five digits of the Amtlicher Gemeindeschlüssel (the
  Kreis level: Land, Regierungsbezirk, Kreis). The key is read from the German base profile's
  extension ``http://fhir.de/StructureDefinition/destatis/ags`` or from a numeric ``district``;
  street lines, city, postal code (PLZ areas are smaller than a Kreis and not the municipality
  key), period and text are dropped. Extensions carrying a name, address, contact point or
  attachment (mother's maiden name, birth place, geolocation inside addresses) are dropped.
- every resource (and contained resource): drops the narrative ``text``; drops ``display`` of
  references to a Patient, RelatedPerson or Person, or to a bundle-local ``urn:`` entry
  (clinical systems put the patient's name there); replaces ``Reference.identifier`` by its
  pseudonym; rewrites conditional references ``Patient?identifier=system|value`` to the
  pseudonym; keeps of inline Attachments only ``contentType``, ``language`` and ``creation``
  (documents such as clinical notes name the patient and cannot be read by this step); and
  adds the ``PSEUDED`` security label to persons and to every resource that refers to one (or
  to another entry of the bundle): the data about a patient. Organizations, practitioners and
  other resources about no patient are cleaned but not labelled.

Pseudonyms are derived by the trust center per (identifier system, value) in the node's
domain, deterministically: the same patient gets the same pseudonym identifier in every
transaction, and references between the resources of one transaction are not changed (ids and
``urn:uuid`` links stay as the FHIR core resolves them), so they stay consistent.
Conditional interactions (``If-None-Exist``/``ifNoneExist``, ``PUT``/``DELETE
Patient?identifier=``, conditional references) reach the step through ``rewrite_criteria``
(the FHIR core's CriteriaRewriter hook): ``identifier=system|value`` becomes the stored
pseudonym; a bare value cannot be matched and is refused (400). Limits: FHIR search must use
the same hook to find patients by original identifier; free text in other elements (``note``,
``valueString``) is kept as clinical content.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from fhir_server.core.errors import InvalidRequest

# Pseudonymizes (identifier system, value) pairs in the node's domain, in order.
IdentifierPseudonymizer = Callable[[Sequence[tuple[str, str]]], list[str]]
# Trades a clinical Vorgangsnummer (VNk/tanC) for the Klinikdatensatzpseudonym, once.
VorgangsnummerExchange = Callable[[str], str]

# A hospital sends the VNk of a case as a Patient identifier with this system; the node trades
# it at the trust center and stores the dataset pseudonym instead (the number is gone after).
VORGANGSNUMMER_SYSTEM = "urn:genomseq:sid:vorgangsnummer"

SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
PSEUDED = {"system": SECURITY_SYSTEM, "code": "PSEUDED", "display": "pseudonymized"}
AGS_EXTENSION = "http://fhir.de/StructureDefinition/destatis/ags"
NO_SYSTEM = "urn:genomseq:no-system"
PERSON_TYPES = frozenset({"Patient", "RelatedPerson", "Person"})
_PERSON_FIELDS_DROPPED = ("name", "telecom", "photo", "contact", "_birthDate")
_IDENTIFYING_VALUE_KEYS = frozenset(
    {"valueHumanName", "valueAddress", "valueContactPoint", "valueAttachment"})
_IDENTIFYING_EXTENSIONS = frozenset({
    "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
    "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
    "http://hl7.org/fhir/StructureDefinition/geolocation",
})
_ATTACHMENT_KEPT = ("contentType", "language", "creation")
_PERSON_REF = re.compile(r"(^|/)(Patient|RelatedPerson|Person)/")
_DATE_PREFIX = re.compile(r"^(\d{4}(-\d{2})?)")
_TIME_PART = re.compile(r"^T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_AGS = re.compile(r"^\d{5}(\d{3})?$")


def pseudonym_system(domain: str) -> str:
    """Identifier system of the node's pseudonyms (one per pseudonym domain)."""
    return f"urn:genomseq:pseudonym:{domain}"


class PseudonymizeStep:
    """WriteStep that pseudonymizes resources in place (see module docstring)."""

    def __init__(
        self,
        pseudonymize: IdentifierPseudonymizer,
        domain: str,
        exchange: VorgangsnummerExchange | None = None,
    ) -> None:
        self._pseudonymize = pseudonymize
        self._exchange = exchange
        self.system = pseudonym_system(domain)

    def rewrite_criteria(
        self, res_type: str, criteria: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """``identifier=system|value`` on person types -> the stored pseudonym identifier.

        Only system|value can be matched: the pseudonym depends on the system, so a bare
        value (any system) is refused with 400 rather than silently matching nothing.
        """
        if res_type not in PERSON_TYPES:
            return criteria
        pairs = []
        for name, value in criteria:
            if name.split(":", 1)[0] != "identifier":
                continue
            system, bar, ident = value.partition("|")
            if name != "identifier" or not bar or not ident:
                raise InvalidRequest(
                    f"this node stores {res_type} identifiers as pseudonyms: match them with "
                    "identifier=system|value")
            if system == VORGANGSNUMMER_SYSTEM:
                raise InvalidRequest("a Vorgangsnummer is exchanged once and never stored: "
                                     "match the dataset pseudonym instead")
            if system != self.system:
                pairs.append((system or NO_SYSTEM, ident))
        if not pairs:
            return criteria
        mapped = dict(zip(pairs, self._pseudonymize(pairs), strict=True))
        out = []
        for name, value in criteria:
            system, bar, ident = value.partition("|")
            pair = (system or NO_SYSTEM, ident)
            if name == "identifier" and bar and pair in mapped:
                value = f"{self.system}|{mapped[pair]}"
            out.append((name, value))
        return out

    def apply(self, resources: list[dict[str, Any]]) -> None:
        """Pseudonymize every resource of one interaction (a transaction is one call)."""
        wanted: dict[tuple[str, str], str] = {}
        for resource in resources:
            for pair in _identifier_pairs(resource, self.system):
                wanted[pair] = ""
        numbers = [pair for pair in wanted if pair[0] == VORGANGSNUMMER_SYSTEM]
        if numbers and self._exchange is None:
            raise InvalidRequest("this node does not exchange Vorgangsnummern")
        pairs = [pair for pair in wanted if pair[0] != VORGANGSNUMMER_SYSTEM]
        if pairs:
            for pair, value in zip(pairs, self._pseudonymize(pairs), strict=True):
                wanted[pair] = value
        for pair in numbers:
            assert self._exchange is not None
            wanted[pair] = self._exchange(pair[1])
        for resource in resources:
            self._resource(resource, wanted)

    # --- per resource ---------------------------------------------------------------------

    def _resource(self, resource: dict[str, Any], pseudonyms: dict[tuple[str, str], str]) -> bool:
        """Pseudonymize one resource; True if it is about a patient (then labelled)."""
        about_patient = False
        for contained in resource.get("contained") or []:
            if isinstance(contained, dict):
                about_patient |= self._resource(contained, pseudonyms)
        resource.pop("text", None)
        if resource.get("resourceType") in PERSON_TYPES:
            self._person(resource, pseudonyms)
            about_patient = True
        for node in _objects(resource):
            if _is_reference(node):
                about_patient |= self._reference(node, pseudonyms)
            elif _is_attachment(node):
                for key in [k for k in node if k not in _ATTACHMENT_KEPT]:
                    del node[key]
        if about_patient:
            _label(resource)
        return about_patient

    def _person(self, person: dict[str, Any], pseudonyms: dict[tuple[str, str], str]) -> None:
        for key in _PERSON_FIELDS_DROPPED:
            person.pop(key, None)
        if isinstance(person.get("birthDate"), str):
            person["birthDate"] = _year_month(person["birthDate"])
        if isinstance(person.get("deceasedDateTime"), str):
            person["deceasedDateTime"] = _year_month(person["deceasedDateTime"])
        person.pop("_deceasedDateTime", None)
        if "identifier" in person:
            replaced = []
            for ident in person["identifier"] or []:
                new = self._identifier(ident, pseudonyms)
                if new is not None and new not in replaced:
                    replaced.append(new)
            if replaced:
                person["identifier"] = replaced
            else:
                del person["identifier"]
        if "address" in person:
            reduced = [a for a in (_reduce_address(x) for x in person["address"] or []) if a]
            if reduced:
                person["address"] = reduced
            else:
                del person["address"]
        _drop_identifying_extensions(person)

    def _identifier(
        self, ident: Any, pseudonyms: dict[tuple[str, str], str]
    ) -> dict[str, Any] | None:
        pair = _pair(ident, self.system)
        if pair is None:
            return None
        new: dict[str, Any] = {}
        if isinstance(ident.get("use"), str):
            new["use"] = ident["use"]
        codings = (ident.get("type") or {}).get("coding") if isinstance(ident.get("type"),
                                                                         dict) else None
        if codings:
            new["type"] = {"coding": [{k: c[k] for k in ("system", "code") if k in c}
                                      for c in codings if isinstance(c, dict)]}
        new["system"] = self.system
        # Already one of our pseudonyms (an update of a stored resource): kept as it is.
        new["value"] = pair[1] if pair[0] == self.system else pseudonyms[pair]
        return new

    def _reference(self, ref: dict[str, Any], pseudonyms: dict[tuple[str, str], str]) -> bool:
        """Clean one Reference; True if it (may) point at a person or a bundle entry."""
        personal = False
        target = ref.get("reference")
        if isinstance(ref.get("type"), str) and ref["type"] not in PERSON_TYPES:
            # Typed as an organization, practitioner, device ...: not about the patient (a
            # bundle-local urn: entry still makes the referring resource patient data).
            return isinstance(target, str) and target.startswith("urn:")
        if isinstance(target, str):
            if target.startswith("Patient?") and "identifier=" in target:
                ref["reference"] = self._conditional(target, pseudonyms)
            if _PERSON_REF.search(target) or target.startswith("urn:"):
                personal = True
                ref.pop("display", None)
            elif "?" in target:
                ref.pop("display", None)
        elif "identifier" in ref:
            personal = True
            ref.pop("display", None)
        if "identifier" in ref:
            new = self._identifier(ref["identifier"], pseudonyms)
            if new is None:
                del ref["identifier"]
            else:
                ref["identifier"] = new
        return personal

    def _conditional(self, target: str, pseudonyms: dict[tuple[str, str], str]) -> str:
        res_type, _, query = target.partition("?")
        params = []
        for param in query.split("&"):
            name, has_value, value = param.partition("=")
            if name == "identifier" and "|" in value:
                system, _, ident = value.partition("|")
                pair = (system or NO_SYSTEM, ident)
                if pair in pseudonyms:
                    value = f"{self.system}|{pseudonyms[pair]}"
            params.append(f"{name}={value}" if has_value else name)
        return f"{res_type}?{'&'.join(params)}"


# --- helpers --------------------------------------------------------------------------------


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object below a resource, not descending into contained resources."""
    stack: list[Any] = [v for k, v in node.items() if k != "contained"]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _is_reference(node: dict[str, Any]) -> bool:
    if "resourceType" in node:
        return False
    return isinstance(node.get("reference"), str) or (
        isinstance(node.get("identifier"), dict) and ("display" in node or "type" in node
                                                      or len(node) == 1))


def _is_attachment(node: dict[str, Any]) -> bool:
    return "resourceType" not in node and ("data" in node or (
        "contentType" in node and ("url" in node or "title" in node or "hash" in node)))


def _pair(ident: Any, own_system: str) -> tuple[str, str] | None:
    if not isinstance(ident, dict):
        return None
    value = ident.get("value")
    if not isinstance(value, str) or not value:
        return None
    system = ident.get("system")
    return (system if isinstance(system, str) and system else NO_SYSTEM, value)


def _identifier_pairs(resource: dict[str, Any], own_system: str) -> Iterator[tuple[str, str]]:
    """(system, value) of every identifier this step will pseudonymize in a resource."""
    for contained in resource.get("contained") or []:
        if isinstance(contained, dict):
            yield from _identifier_pairs(contained, own_system)
    if resource.get("resourceType") in PERSON_TYPES:
        for ident in resource.get("identifier") or []:
            pair = _pair(ident, own_system)
            if pair is not None and pair[0] != own_system:
                yield pair
    for node in _objects(resource):
        if _is_reference(node):
            if isinstance(node.get("type"), str) and node["type"] not in PERSON_TYPES:
                continue
            pair = _pair(node.get("identifier"), own_system)
            if pair is not None and pair[0] != own_system:
                yield pair
            target = node.get("reference")
            if isinstance(target, str) and target.startswith("Patient?"):
                for param in target.partition("?")[2].split("&"):
                    name, _, value = param.partition("=")
                    if name == "identifier" and "|" in value:
                        system, _, ident_value = value.partition("|")
                        if ident_value and system != own_system:
                            yield (system or NO_SYSTEM, ident_value)


def _label(resource: dict[str, Any]) -> None:
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        meta = resource["meta"] = {}
    labels = meta.get("security")
    if not isinstance(labels, list):
        labels = meta["security"] = []
    if not any(isinstance(c, dict) and c.get("system") == SECURITY_SYSTEM
               and c.get("code") == "PSEUDED" for c in labels):
        labels.append(dict(PSEUDED))


def _year_month(value: str) -> str:
    """Year and month of a valid date/dateTime; anything else unchanged, for validation to
    refuse (reducing 1999-02-30 would turn bad input into a valid date)."""
    match = _DATE_PREFIX.match(value)
    if match is None:
        return value
    try:
        if len(value) > 10:
            if not _TIME_PART.match(value[10:]):
                return value
            datetime.fromisoformat(value)
        elif len(value) == 10:
            date.fromisoformat(value)
        elif len(value) not in (4, 7) or (len(value) == 7 and not 1 <= int(value[5:]) <= 12):
            return value
    except ValueError:
        return value
    return match.group(1)


def _reduce_address(address: Any) -> dict[str, Any] | None:
    if not isinstance(address, dict):
        return None
    key = None
    for ext in address.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == AGS_EXTENSION:
            coding = ext.get("valueCoding") or {}
            code = coding.get("code") if isinstance(coding, dict) else None
            if isinstance(code, str) and _AGS.match(code):
                key = code
    district = address.get("district")
    if key is None and isinstance(district, str) and _AGS.match(district):
        key = district
    reduced: dict[str, Any] = {}
    for field in ("use", "type", "state", "country"):
        if isinstance(address.get(field), str):
            reduced[field] = address[field]
    if key is not None:
        reduced["district"] = key[:5]
    return reduced if any(k in reduced for k in ("state", "country", "district")) else None


def _drop_identifying_extensions(node: Any) -> None:
    if isinstance(node, dict):
        for key in ("extension", "modifierExtension"):
            if isinstance(node.get(key), list):
                kept = [e for e in node[key] if not (
                    isinstance(e, dict) and (e.get("url") in _IDENTIFYING_EXTENSIONS
                                             or _IDENTIFYING_VALUE_KEYS & e.keys()))]
                if kept:
                    node[key] = kept
                else:
                    del node[key]
        for value in node.values():
            _drop_identifying_extensions(value)
    elif isinstance(node, list):
        for item in node:
            _drop_identifying_extensions(item)
