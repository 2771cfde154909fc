"""Index extraction: the search index rows of one resource.

FHIR R4 4.0.1 search.html section 3.1.1.4 (which element types each parameter type indexes:
string over string/HumanName/Address, token over code/Coding/CodeableConcept/Identifier/
ContactPoint/boolean, reference over Reference/canonical/uri, date over date/dateTime/instant/
Period/Timing, quantity over Quantity/Money/Range, composite over tuples of components),
plus section 3.1.1.5 (modifiers whose rows are precomputed: ``:text``, ``:identifier``,
``:of-type``) and section 3.1.1.3.3 / 3.1.1.4.13 (``_text`` over the narrative, ``_content``
over the whole resource: :func:`fulltext` gives the words the full-text index stores).

Rows are plain tuples in the column order of the index tables (see ``ROW_COLUMNS``); the
storage adapter prefixes them with the resource's primary key and inserts each table's rows
with one executemany.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from common.errors import InvalidInput
from fhir_server.core.search.fhirpath import Item, reference_type, top_level_elements
from fhir_server.core.search.registry import Registry, SearchParameter
from fhir_server.core.search.values import (
    MAX_STRING,
    MAX_TIME,
    MIN_TIME,
    date_range,
    h64,
    normalize,
)

ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "fhir_idx_string": ("hash_identity", "value_norm", "value_exact"),
    "fhir_idx_token": ("hash_identity", "hash_sys", "hash_sys_value", "hash_value",
                       "system", "value"),
    "fhir_idx_date": ("hash_identity", "low", "high"),
    "fhir_idx_number": ("hash_identity", "value"),
    "fhir_idx_quantity": ("hash_identity", "hash_units", "hash_code", "value_low",
                          "value_high"),
    "fhir_idx_uri": ("hash_identity", "hash_uri", "uri"),
    "fhir_idx_reference": ("hash_identity", "hash_target", "target_type", "target_id", "url"),
    "fhir_idx_composite": ("hash_identity", "c1_hash", "c1_hash_value", "c2_hash",
                           "c2_hash_value", "c2_low", "c2_high", "c2_units", "c2_code",
                           "c3_low", "c3_high"),
}
TABLE_OF_TYPE = {
    "string": "fhir_idx_string", "token": "fhir_idx_token", "date": "fhir_idx_date",
    "number": "fhir_idx_number", "quantity": "fhir_idx_quantity", "uri": "fhir_idx_uri",
    "reference": "fhir_idx_reference", "composite": "fhir_idx_composite",
}
IndexRows = dict[str, list[tuple[Any, ...]]]

_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")
_TAGS = re.compile(r"<[^>]+>")
UCUM = "http://unitsofmeasure.org"
ISO4217 = "urn:iso:std:iso:4217"


_WORD = re.compile(r"[^\W_]+")
MAX_WORD = 64  # longer runs (base64, hashes) are not words anyone searches for
MAX_TEXT_WORDS = 20_000  # distinct words per resource and field
_NOT_CONTENT = {"div", "data"}  # XHTML markup (its text is the narrative), base64Binary


def text_words(text: str) -> list[str]:
    """Distinct case- and accent-folded words of a text, in order of first appearance.

    Words are runs of letters and digits (``heart-rate`` is ``heart`` and ``rate``); both
    backends' full-text indexes get these words joined by spaces, so SQLite FTS5 and
    PostgreSQL's ``simple`` text search configuration see the same tokens.
    """
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    words = (w for w in _WORD.findall(text.casefold()) if len(w) <= MAX_WORD)
    return list(dict.fromkeys(words))[:MAX_TEXT_WORDS]


def fulltext(resource: dict[str, Any]) -> tuple[str, str]:
    """(narrative words, content words) of a resource for ``_text`` and ``_content``.

    The narrative is the text of ``text.div`` without markup; the content is every string
    value anywhere in the resource (the narrative's text included, base64 data excluded).
    """
    narrative = ""
    text = resource.get("text")
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        narrative = " ".join(text_words(_TAGS.sub(" ", text["div"])))
    strings: list[str] = [narrative] if narrative else []
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(v for k, v in node.items() if k not in _NOT_CONTENT)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            strings.append(node)
    return narrative, " ".join(text_words(" ".join(reversed(strings))))


@lru_cache(maxsize=16384)
def identity(res_type: str, code: str) -> int:
    """hash_identity of (resource type, parameter code)."""
    return h64(res_type, code)


def token_hashes(ident: int, system: str | None, value: str | None) -> tuple[int, int, int]:
    """(hash_sys, hash_sys_value, hash_value) of one token under an identity."""
    ids = str(ident)
    return h64(ids, system or ""), h64(ids, system or "", value or ""), h64(ids, "", value or "")


def target_hash(ident: int, target_type: str, target_id: str) -> int:
    """hash_target of a literal reference ``Type/id`` under an identity."""
    return h64(str(ident), target_type, target_id)


def units_hash(ident: int, system: str | None, code: str | None) -> int:
    """Hash of a quantity's system and code (``hash_units``); system None = any system."""
    return h64(str(ident), "units", system or "", code or "")


def uri_hash(ident: int, uri: str) -> int:
    """Hash of a uri value under an identity."""
    return h64(str(ident), uri)


def comp_hash(value: str, system: str | None = None) -> int:
    """Hash of one composite component value (independent of the identity)."""
    return h64("c", system or "", value)


class Extractor:
    """Computes index rows with the registry's precompiled expressions."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def extract(self, res_type: str, resource: dict[str, Any]) -> IndexRows:
        """Every index row of one resource, by table."""
        rows: IndexRows = {t: [] for t in ROW_COLUMNS}
        root: Item = (resource, res_type)
        present = top_level_elements(resource)
        for code, sp in self.registry.params(res_type).items():
            if sp.type == "special" or not sp.expression or code in ("_id", "_lastUpdated"):
                continue
            path = self.registry.compiled(res_type, sp)
            if path.first_elements is not None and path.first_elements.isdisjoint(present):
                continue  # none of the elements it reads is there
            values = path.fn([root], root)
            if not values:
                continue
            ident = identity(res_type, code)
            if sp.type == "composite":
                self._composite(sp, ident, values, rows, root)
            else:
                _EXTRACTORS[sp.type](self, res_type, code, ident, values, rows)
        for table in rows:
            if len(rows[table]) > 1:
                rows[table] = list(dict.fromkeys(rows[table]))  # one row per distinct value
        return rows

    # -- per parameter type ----------------------------------------------------------------

    def _string(self, res_type: str, code: str, ident: int, values: list[Item],
                rows: IndexRows) -> None:
        out = rows["fhir_idx_string"]
        for text in _strings(values):
            out.append((ident, normalize(text), text[:MAX_STRING]))

    def _token(self, res_type: str, code: str, ident: int, values: list[Item],
               rows: IndexRows) -> None:
        out = rows["fhir_idx_token"]
        texts: list[str] = []
        of_type: list[tuple[str | None, str]] = []
        for system, value, display in _tokens(values, of_type):
            if value is None and system is None:
                if display:
                    texts.append(display)
                continue
            out.append((ident, *token_hashes(ident, system, value),
                        _cut(system), _cut(value)))
            if display:
                texts.append(display)
        if texts:
            tid = identity(res_type, code + ":text")
            rows["fhir_idx_string"].extend((tid, normalize(t), t[:MAX_STRING]) for t in texts)
        if of_type:
            oid = identity(res_type, code + ":of-type")
            for system, value in of_type:
                out.append((oid, *token_hashes(oid, system, value), _cut(system), _cut(value)))

    def _reference(self, res_type: str, code: str, ident: int, values: list[Item],
                   rows: IndexRows) -> None:
        out = rows["fhir_idx_reference"]
        identifiers: list[Item] = []
        for value, _ in values:
            ref: Any = None
            if isinstance(value, dict):
                if "resourceType" in value:
                    continue  # an embedded resource (Bundle.entry.resource), not a reference
                ref = value.get("reference")
                if isinstance(value.get("identifier"), dict):
                    identifiers.append((value["identifier"], "Identifier"))
            elif isinstance(value, str):
                ref = value
            if not isinstance(ref, str) or not ref or ref.startswith("#"):
                continue
            rtype = reference_type(ref)
            if rtype and ("://" not in ref) and not ref.startswith("urn:"):
                parts = ref.split("/")
                if "_history" in parts:
                    parts = parts[: parts.index("_history")]
                rid = parts[-1]
                out.append((ident, target_hash(ident, rtype, rid), rtype, rid[:64], None))
            else:
                url = ref.split("|", 1)[0]
                tid = None
                if rtype:
                    parts = url.split("/")
                    if "_history" in parts:
                        parts = parts[: parts.index("_history")]
                    tid = parts[-1][:64]
                out.append((ident, uri_hash(ident, url), rtype, tid, url[:500]))
        if identifiers:
            self._token(res_type, code + ":identifier", identity(res_type, code + ":identifier"),
                        identifiers, rows)

    def _date(self, res_type: str, code: str, ident: int, values: list[Item],
              rows: IndexRows) -> None:
        out = rows["fhir_idx_date"]
        for value, vtype in values:
            rng = _date_of(value, vtype)
            if rng is not None:
                out.append((ident, rng[0], rng[1]))

    def _number(self, res_type: str, code: str, ident: int, values: list[Item],
                rows: IndexRows) -> None:
        out = rows["fhir_idx_number"]
        for value, _ in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append((ident, float(value)))

    def _quantity(self, res_type: str, code: str, ident: int, values: list[Item],
                  rows: IndexRows) -> None:
        out = rows["fhir_idx_quantity"]
        for q in _quantities(values):
            value_low, value_high, system, qcode = q
            out.append((ident, units_hash(ident, system, qcode), units_hash(ident, None, qcode),
                        value_low, value_high))

    def _uri(self, res_type: str, code: str, ident: int, values: list[Item],
             rows: IndexRows) -> None:
        out = rows["fhir_idx_uri"]
        for value, _ in values:
            if isinstance(value, str) and value:
                out.append((ident, uri_hash(ident, value), value[:500]))

    def _composite(self, sp: SearchParameter, ident: int, values: list[Item],
                   rows: IndexRows, root: Item) -> None:
        out = rows["fhir_idx_composite"]
        for element in values:
            parts: list[list[tuple[Any, ...]]] = []
            for comp in sp.components:
                found = self.registry.component_path(sp, comp).fn([element], root)
                parts.append(_component_values(comp.type, found))
            if len(parts) < 2 or not all(parts):
                continue
            third = parts[2] if len(parts) > 2 else [(None, None, None, None, None, None)]
            for a in parts[0]:
                for b in parts[1]:
                    for c in third:
                        out.append((ident, a[0], a[1], b[0], b[1], b[2], b[3], b[4], b[5],
                                    c[2], c[3]))


_EXTRACTORS = {
    "string": Extractor._string, "token": Extractor._token,
    "reference": Extractor._reference, "date": Extractor._date,
    "number": Extractor._number, "quantity": Extractor._quantity, "uri": Extractor._uri,
}


def _cut(text: str | None) -> str | None:
    return text[:MAX_STRING] if text is not None else None


def _strings(values: Iterable[Item]) -> Iterable[str]:
    for value, vtype in values:
        if isinstance(value, str):
            if value:
                yield value
        elif isinstance(value, dict):
            if vtype == "HumanName" or (vtype is None and ("family" in value or "given" in value)):
                parts: tuple[str, ...] = _NAME_PARTS
            elif vtype == "Address" or (vtype is None and any(
                    k in value for k in ("line", "city", "postalCode", "country", "state"))):
                parts = _ADDRESS_PARTS
            else:
                parts = ("text", "display", "value")
            for key in parts:
                v = value.get(key)
                if isinstance(v, str) and v:
                    yield v
                elif isinstance(v, list):
                    yield from (x for x in v if isinstance(x, str) and x)


def _tokens(values: Iterable[Item], of_type: list[tuple[str | None, str]]
            ) -> Iterable[tuple[str | None, str | None, str | None]]:
    """(system, code/value, display text) of every token in the values."""
    for value, vtype in values:
        if isinstance(value, bool):
            yield None, "true" if value else "false", None
        elif isinstance(value, str):
            yield None, value, None
        elif isinstance(value, (int, float)):
            yield None, str(value), None
        elif isinstance(value, dict):
            if vtype == "CodeableConcept" or "coding" in value or (
                    vtype is None and "text" in value
                    and set(value) <= {"text", "extension", "id"}):
                for coding in value.get("coding", ()):
                    if isinstance(coding, dict) and (coding.get("code") or coding.get("system")):
                        yield coding.get("system"), coding.get("code"), coding.get("display")
                    elif isinstance(coding, dict) and coding.get("display"):
                        yield None, None, coding.get("display")
                if isinstance(value.get("text"), str):
                    yield None, None, value["text"]
            elif vtype == "Coding" or "code" in value:
                yield value.get("system"), value.get("code"), value.get("display")
            elif vtype == "ContactPoint" or (value.get("system") in _CONTACT_SYSTEMS
                                             and "value" in value):
                if isinstance(value.get("value"), str):
                    yield value.get("system"), value["value"], None
            elif "value" in value or vtype == "Identifier":
                if isinstance(value.get("value"), str) or isinstance(value.get("system"), str):
                    yield value.get("system"), value.get("value"), None
                itype = value.get("type")
                if isinstance(itype, dict):
                    for coding in itype.get("coding", ()):
                        if isinstance(coding, dict) and coding.get("code") and value.get("value"):
                            of_type.append((coding.get("system"),
                                            f"{coding['code']}|{value['value']}"))
                    if isinstance(itype.get("text"), str):
                        yield None, None, itype["text"]


def _date_of(value: Any, vtype: str | None) -> tuple[int, int] | None:
    try:
        if isinstance(value, str):
            return date_range(value)
        if isinstance(value, dict):
            if "start" in value or "end" in value:  # Period: open ends are unbounded
                low = date_range(value["start"])[0] if isinstance(value.get("start"), str) \
                    else MIN_TIME
                high = date_range(value["end"])[1] if isinstance(value.get("end"), str) \
                    else MAX_TIME
                return low, high
            events = [date_range(e) for e in value.get("event", ()) if isinstance(e, str)]
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            if isinstance(bounds, dict):
                b = _date_of(bounds, "Period")
                if b:
                    events.append(b)
            if events:
                return min(e[0] for e in events), max(e[1] for e in events)
    except (InvalidInput, KeyError, TypeError):  # a malformed stored date is not indexed
        return None
    return None


def _quantities(values: Iterable[Item]
                ) -> Iterable[tuple[float, float, str | None, str | None]]:
    for value, _ in values:
        if not isinstance(value, dict):
            continue
        if "low" in value or "high" in value:  # Range
            low, high = value.get("low") or {}, value.get("high") or {}
            lv, hv = low.get("value"), high.get("value")
            if lv is None and hv is None:
                continue
            ref = low if lv is not None else high
            yield (float(lv) if lv is not None else -1e300,
                   float(hv) if hv is not None else 1e300,
                   ref.get("system"), ref.get("code") or ref.get("unit"))
        elif isinstance(value.get("value"), (int, float)) \
                and not isinstance(value.get("value"), bool):
            v = float(value["value"])
            if "currency" in value:  # Money
                yield v, v, ISO4217, value["currency"]
            else:
                yield v, v, value.get("system"), value.get("code") or value.get("unit")


def _component_values(ctype: str, found: list[Item]) -> list[tuple[Any, ...]]:
    """(hash, hash_value, low, high, units, code) of each value of one composite component."""
    out: list[tuple[Any, ...]] = []
    if ctype == "token":
        for system, value, _ in _tokens(found, []):
            if value is not None:
                out.append((comp_hash(value, system), comp_hash(value), None, None, None, None))
    elif ctype == "string":
        for text in _strings(found):
            n = normalize(text)
            out.append((comp_hash(n), comp_hash(n), None, None, None, None))
    elif ctype == "reference":
        for value, _ in found:
            ref = value.get("reference") if isinstance(value, dict) else value
            if isinstance(ref, str):
                out.append((comp_hash(ref), comp_hash(ref), None, None, None, None))
    elif ctype == "quantity":
        for low, high, system, code in _quantities(found):
            out.append((None, None, low, high, comp_hash(code or "", system),
                        comp_hash(code or "")))
    elif ctype == "number":
        for value, _ in found:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append((None, None, float(value), float(value), None, None))
    elif ctype == "date":
        for value, vtype in found:
            rng = _date_of(value, vtype)
            if rng:
                out.append((None, None, float(rng[0]), float(rng[1]), None, None))
    elif ctype == "uri":
        for value, _ in found:
            if isinstance(value, str):
                out.append((comp_hash(value), comp_hash(value), None, None, None, None))
    return out
