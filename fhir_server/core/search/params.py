"""Parsing of FHIR search requests into a typed query.

FHIR R4 4.0.1 search.html: 3.1.1.4 (parameter types and their value syntax), 3.1.1.4.1 to
3.1.1.4.9 (number, date, string, uri, token, quantity, reference, composite prefixes and
implicit ranges), 3.1.1.5 (modifiers), 3.1.1.5.6 (multiple values: ``,`` = OR, repeated
parameter = AND), 3.1.1.5.7 (escaping ``\\,`` ``\\$`` ``\\|``), 3.1.1.6 (chaining),
3.1.1.7 (reverse chaining ``_has``), 3.1.1.6.x (``_list``), 3.2.1.x (result parameters
``_sort``, ``_count``, ``_include``, ``_revinclude``, ``_summary``, ``_total``,
``_elements``). Parsing is pure: the storage adapter turns a :class:`SearchQuery` into SQL.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from common.errors import InvalidInput
from fhir_server.core.search.extract import text_words
from fhir_server.core.search.registry import Registry, SearchParameter
from fhir_server.core.search.values import date_range, normalize

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
SUMMARY_MODES = ("true", "text", "data", "count", "false")
TOTAL_MODES = ("none", "estimate", "accurate")
MAX_COUNT = 1000
DEFAULT_COUNT = 50
MAX_CHAIN = 4

_MODIFIERS = {
    "string": {"missing", "exact", "contains"},
    "token": {"missing", "not", "text", "of-type"},
    "reference": {"missing", "identifier"},  # plus :[type]
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"missing", "above", "below"},
    "composite": {"missing"},
    "special": set(),
}


@dataclass(frozen=True)
class TokenValue:
    """``[system|]code``; system None = any system, "" = no system; code None = ``system|``."""

    system: str | None
    code: str | None


@dataclass(frozen=True)
class RangeValue:
    """A number, date or quantity with its prefix and implicit range [low, high]."""

    prefix: str
    value: float
    low: float
    high: float
    system: str | None = None  # quantity only; None = any
    code: str | None = None


@dataclass(frozen=True)
class ReferenceValue:
    """A reference search value: ``id``, ``Type/id`` or an absolute/canonical URL."""

    types: tuple[str, ...]
    id: str | None
    url: str | None = None


@dataclass(frozen=True)
class CompositeValue:
    """One value of a composite parameter: a value per component."""

    parts: tuple[Any, ...]


@dataclass
class Clause:
    """One search parameter occurrence: its values are ORed; clauses of a query are ANDed."""

    res_type: str
    code: str
    param: SearchParameter | None  # None for _id, _lastUpdated, _has, _list, _text
    modifier: str | None
    values: list[Any]
    chain: Chain | None = None
    has: Has | None = None


@dataclass
class Chain:
    """``ref:Type.param=value``: resources whose reference points at a match of ``inner``."""

    target_types: tuple[str, ...]
    inner: list[Clause]  # one clause per target type (ORed)


@dataclass
class Has:
    """``_has:Type:ref:param=value``: resources referenced (via ``ref``) by a match of ``inner``."""

    source_type: str
    reference: SearchParameter
    inner: Clause


@dataclass(frozen=True)
class SortKey:
    """One ``_sort`` key."""

    code: str
    param: SearchParameter | None  # None for _id / _lastUpdated
    descending: bool


@dataclass(frozen=True)
class Include:
    """An ``_include`` or ``_revinclude`` directive."""

    source_type: str  # "*" for _include=*
    code: str  # "*" for all reference parameters
    target_type: str | None
    iterate: bool
    reverse: bool


@dataclass
class SearchQuery:
    """A parsed search request."""

    res_types: tuple[str, ...]  # one for type/compartment level; several or all for system
    clauses: list[Clause] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    includes: list[Include] = field(default_factory=list)
    total: str | None = None
    summary: str | None = None
    elements: list[str] | None = None
    cursor: str | None = None
    applied: list[tuple[str, str]] = field(default_factory=list)  # for the self link
    ignored: list[str] = field(default_factory=list)  # unknown params (lenient handling)


def split_unescaped(value: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped with a backslash (escapes kept)."""
    parts, cur, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur.append(value[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def unescape(value: str) -> str:
    """Remove search escapes (``\\,`` ``\\$`` ``\\|`` ``\\\\``)."""
    return re.sub(r"\\([,$|\\])", r"\1", value)


def _prefix(text: str) -> tuple[str, str]:
    if len(text) >= 2 and text[:2].isalpha():
        if text[:2] not in PREFIXES:
            raise InvalidInput(f"Invalid search prefix {text[:2]!r} in {text!r}")
        return text[:2], text[2:]
    return "eq", text


def parse_number(text: str) -> RangeValue:
    """A number value with prefix; the implicit range follows its significant figures."""
    prefix, rest = _prefix(text)
    try:
        dec = Decimal(rest)
        if not dec.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"Invalid number {text!r}") from exc
    exponent = dec.as_tuple().exponent
    assert isinstance(exponent, int)
    half = float(Decimal(5) * Decimal(10) ** (exponent - 1))
    v = float(dec)
    if not math.isfinite(v) or abs(v) > 1e300:
        raise InvalidInput(f"Number out of range: {text!r}")
    return RangeValue(prefix, v, v - half, v + half)


def parse_date(text: str) -> RangeValue:
    """A date value with prefix and the implicit range of its precision (microseconds)."""
    prefix, rest = _prefix(text)
    low, high = date_range(rest)
    return RangeValue(prefix, float(low), float(low), float(high))


def parse_quantity(text: str) -> RangeValue:
    """``[prefix]number|system|code`` or ``[prefix]number||code`` or ``[prefix]number``."""
    parts = [unescape(p) for p in split_unescaped(text, "|")]
    if len(parts) not in (1, 3):
        raise InvalidInput(f"Invalid quantity {text!r}: expected number|system|code")
    number = parse_number(parts[0])
    system = parts[1] if len(parts) == 3 and parts[1] else None
    code = parts[2] if len(parts) == 3 and parts[2] else None
    return RangeValue(number.prefix, number.value, number.low, number.high, system, code)


def parse_token(text: str) -> TokenValue:
    """``code``, ``system|code``, ``|code`` or ``system|``."""
    parts = split_unescaped(text, "|")
    if len(parts) == 1:
        return TokenValue(None, unescape(parts[0]))
    if len(parts) == 2:
        system, code = unescape(parts[0]), unescape(parts[1])
        return TokenValue(system, code or None)
    raise InvalidInput(f"Invalid token {text!r}: more than one unescaped '|'")


class QueryParser:
    """Parses query parameters against a registry."""

    def __init__(self, registry: Registry, bases: tuple[str, ...] = ()) -> None:
        self.registry = registry
        # This server's own base URLs: an absolute reference to one of them is a local one.
        self.bases = tuple(b.rstrip("/") + "/" for b in bases)

    def parse(self, res_types: tuple[str, ...], params: list[tuple[str, str]], *,
              lenient: bool = False) -> SearchQuery:
        """A :class:`SearchQuery` for a search over ``res_types``; InvalidInput if malformed."""
        q = SearchQuery(res_types=res_types)
        single = res_types[0] if len(res_types) == 1 else None
        for name, value in params:
            if name in ("_format", "_pretty", "_cursor"):
                if name == "_cursor":
                    q.cursor = value
                continue
            try:
                if name == "_count":
                    q.count = self._count(value)
                elif name == "_sort":
                    q.sort = self._sort(res_types, value)
                elif name == "_total":
                    if value not in TOTAL_MODES:
                        raise InvalidInput(f"Invalid _total {value!r}")
                    q.total = value
                elif name == "_summary":
                    if value not in SUMMARY_MODES:
                        raise InvalidInput(f"Invalid _summary {value!r}")
                    q.summary = value
                elif name == "_elements":
                    q.elements = [e.strip() for e in value.split(",") if e.strip()]
                elif name.split(":")[0] in ("_include", "_revinclude"):
                    q.includes.append(self._include(res_types, name, value))
                elif name == "_type":
                    continue  # consumed by the caller (system-level search)
                elif single is None:
                    q.clauses.append(self._common_clause(res_types, name, value))
                else:
                    q.clauses.append(self.clause(single, name, value))
            except UnknownParameter as exc:
                if not lenient:
                    raise InvalidInput(str(exc), expression=[name]) from exc
                q.ignored.append(name)
                continue
            q.applied.append((name, value))
        return q

    def _count(self, value: str) -> int:
        if not value.isdigit():
            raise InvalidInput(f"Invalid _count {value!r}: expected a non-negative integer")
        return min(int(value), MAX_COUNT)

    def _common_clause(self, res_types: tuple[str, ...], name: str, value: str) -> Clause:
        # System-level search: only parameters every searched type shares (e.g. _id, _tag).
        code = name.split(":")[0].split(".")[0]
        if code not in ("_id", "_lastUpdated") and not all(
                self.registry.get(t, code) for t in res_types):
            raise UnknownParameter(f"Search parameter {code!r} is not common to all types")
        return self.clause(res_types[0], name, value, any_type=res_types)

    def clause(self, res_type: str, name: str, value: str, depth: int = 0,
               any_type: tuple[str, ...] | None = None) -> Clause:
        """One parameter occurrence (``name=value``) on ``res_type``."""
        if name.startswith("_has:"):
            return self._has(res_type, name, value, depth)
        head, _, rest = name.partition(".")
        code, _, modifier_text = head.partition(":")
        modifier = modifier_text or None
        if code in ("_id", "_lastUpdated", "_list", "_text", "_content"):
            return self._special(res_type, code, modifier, value, rest)
        param = self.registry.get(res_type, code)
        if param is None:
            raise UnknownParameter(f"Unknown search parameter {code!r} for {res_type}")
        if param.type == "special" or (not param.expression and param.type != "composite"):
            raise UnknownParameter(f"Search parameter {code!r} is not supported")
        if rest:
            return self._chain(res_type, param, modifier, rest, value, depth)
        if modifier is not None and modifier not in _MODIFIERS.get(param.type, set()) \
                and not (param.type == "reference" and self.registry.is_resource_type(modifier)):
            # An unsupported modifier makes the parameter unsupported (lenient handling skips it).
            raise UnknownParameter(f"Modifier :{modifier} is not supported for "
                                   f"{param.type} parameter {code!r}", expression=[name])
        if modifier == "missing":
            if value not in ("true", "false"):
                raise InvalidInput(f"Invalid :missing value {value!r}: expected true or false")
            return Clause(res_type, code, param, modifier, [value == "true"])
        values = [self._value(res_type, param, modifier, v)
                  for v in split_unescaped(value, ",")]
        return Clause(res_type, code, param, modifier, values)

    def _special(self, res_type: str, code: str, modifier: str | None, value: str,
                 rest: str) -> Clause:
        if rest:
            raise InvalidInput(f"{code} cannot be chained")
        if modifier == "missing" and code not in ("_id", "_text", "_content"):
            if value not in ("true", "false"):
                raise InvalidInput(f"Invalid :missing value {value!r}")
            return Clause(res_type, code, None, modifier, [value == "true"])
        if modifier is not None:
            raise UnknownParameter(f"Modifier :{modifier} is not supported for {code}")
        raw = [unescape(v) for v in split_unescaped(value, ",")]
        if code == "_id":
            return Clause(res_type, code, None, None, raw)
        if code == "_lastUpdated":
            return Clause(res_type, code, None, None, [parse_date(v) for v in raw])
        if code in ("_text", "_content"):
            # Full text (search.html#content): every word of a value must start a word of
            # the narrative / content; comma-separated values are alternatives.
            phrases = [tuple(text_words(v)) for v in raw]
            if not phrases or not all(phrases):
                raise InvalidInput(f"{code} needs at least one word (letters or digits) "
                                   "in every value")
            return Clause(res_type, code, None, None, phrases)
        return Clause(res_type, code, None, None, raw)  # _list: List ids

    def _value(self, res_type: str, param: SearchParameter, modifier: str | None,
               text: str) -> Any:
        ptype = param.type
        if text == "":
            raise InvalidInput(f"Empty value for search parameter {param.code!r}")
        if ptype == "string":
            return unescape(text)
        if ptype == "token":
            if modifier == "text":
                return normalize(unescape(text))
            if modifier == "of-type":
                parts = [unescape(p) for p in split_unescaped(text, "|")]
                if len(parts) != 3 or not all(parts):
                    raise InvalidInput(f"Invalid :of-type value {text!r}: expected "
                                       "system|code|value")
                return TokenValue(parts[0], f"{parts[1]}|{parts[2]}")
            return parse_token(text)
        if ptype == "reference":
            if modifier == "identifier":
                return parse_token(text)
            return self._reference_value(param, modifier, unescape(text))
        if ptype == "date":
            return parse_date(text)
        if ptype == "number":
            return parse_number(text)
        if ptype == "quantity":
            return parse_quantity(text)
        if ptype == "uri":
            return unescape(text)
        if ptype == "composite":
            parts = split_unescaped(text, "$")
            if len(parts) != len(param.components):
                raise InvalidInput(f"Composite {param.code!r} needs {len(param.components)} "
                                   f"values joined with '$', got {text!r}")
            parsed: list[Any] = []
            for comp, part in zip(param.components, parts, strict=True):
                if comp.type == "token":
                    parsed.append(parse_token(part))
                elif comp.type in ("quantity",):
                    parsed.append(parse_quantity(part))
                elif comp.type == "number":
                    parsed.append(parse_number(part))
                elif comp.type == "date":
                    parsed.append(parse_date(part))
                elif comp.type == "string":
                    parsed.append(normalize(unescape(part)))
                else:
                    parsed.append(unescape(part))
            return CompositeValue(tuple(parsed))
        raise InvalidInput(f"Search parameter {param.code!r} of type {ptype} is not supported")

    def _reference_value(self, param: SearchParameter, modifier: str | None,
                         text: str) -> ReferenceValue:
        targets = param.target or tuple(self.registry.resource_types)
        if modifier is not None:  # :[type]
            if "/" in text:
                raise InvalidInput(f"Reference {text!r} with :{modifier} must be a plain id")
            return ReferenceValue((modifier,), text)
        for base in self.bases:
            if text.startswith(base):
                text = text[len(base):]
                break
        if "://" in text or text.startswith("urn:"):
            return ReferenceValue(targets, None, text.split("|", 1)[0])
        parts = text.split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) == 1:
            return ReferenceValue(targets, parts[0])
        if len(parts) == 2 and self.registry.is_resource_type(parts[0]):
            return ReferenceValue((parts[0],), parts[1])
        raise InvalidInput(f"Invalid reference {text!r}")

    def _chain(self, res_type: str, param: SearchParameter, modifier: str | None, rest: str,
               value: str, depth: int) -> Clause:
        if param.type != "reference":
            raise InvalidInput(f"Only reference parameters can be chained, not {param.code!r}")
        if depth >= MAX_CHAIN:
            raise InvalidInput("Chain too long")
        if modifier is not None:
            if not self.registry.is_resource_type(modifier):
                raise InvalidInput(f"Invalid type qualifier :{modifier} in chain")
            types: tuple[str, ...] = (modifier,)
        else:
            types = param.target or tuple(self.registry.resource_types)
        inner_code = rest.split(".")[0].split(":")[0]
        candidates = tuple(t for t in types
                           if inner_code in ("_id", "_lastUpdated", "_has", "_list", "_text",
                                             "_content")
                           or inner_code.startswith("_has")
                           or self.registry.get(t, inner_code))
        if not candidates:
            raise UnknownParameter(f"Chained parameter {inner_code!r} is not defined on "
                                   f"{'/'.join(types)}")
        inner = [self.clause(t, rest, value, depth + 1) for t in candidates]
        return Clause(res_type, param.code, param, None, [], chain=Chain(candidates, inner))

    def _has(self, res_type: str, name: str, value: str, depth: int) -> Clause:
        # _has:Observation:patient:code=1234 (the remainder may itself be _has:...).
        parts = name.split(":", 3)
        if len(parts) < 4:
            raise InvalidInput(f"Invalid _has parameter {name!r}: expected "
                               "_has:Type:reference:parameter")
        _, source_type, ref_code, rest = parts
        if not self.registry.is_resource_type(source_type):
            raise InvalidInput(f"Unknown resource type {source_type!r} in _has")
        ref = self.registry.get(source_type, ref_code)
        if ref is None or ref.type != "reference":
            raise UnknownParameter(f"{source_type} has no reference parameter {ref_code!r}")
        if depth >= MAX_CHAIN:
            raise InvalidInput("_has nested too deeply")
        inner = self.clause(source_type, rest, value, depth + 1)
        return Clause(res_type, "_has", None, None, [], has=Has(source_type, ref, inner))

    def _sort(self, res_types: tuple[str, ...], value: str) -> list[SortKey]:
        keys = []
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            desc = item.startswith("-")
            code = item[1:] if desc else item
            if code in ("_id", "_lastUpdated"):
                keys.append(SortKey(code, None, desc))
                continue
            param = self.registry.get(res_types[0], code) if len(res_types) == 1 else None
            if param is None or param.type in ("composite", "special"):
                raise InvalidInput(f"Cannot sort by {code!r}", expression=["_sort"])
            keys.append(SortKey(code, param, desc))
        return keys

    def _include(self, res_types: tuple[str, ...], name: str, value: str) -> Include:
        base, _, mod = name.partition(":")
        if mod not in ("", "iterate", "recurse"):
            raise InvalidInput(f"Invalid modifier on {base}: {mod!r}")
        reverse = base == "_revinclude"
        iterate = mod in ("iterate", "recurse")
        if value == "*":
            return Include("*", "*", None, iterate, reverse)
        parts = value.split(":")
        if len(parts) not in (2, 3):
            raise InvalidInput(f"Invalid {base} value {value!r}: expected Type:parameter[:target]")
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if not self.registry.is_resource_type(source):
            raise InvalidInput(f"Unknown resource type {source!r} in {base}")
        if code != "*":
            param = self.registry.get(source, code)
            if param is None or param.type != "reference":
                raise InvalidInput(f"{source} has no reference parameter {code!r}")
        if target is not None and not self.registry.is_resource_type(target):
            raise InvalidInput(f"Unknown target type {target!r} in {base}")
        return Include(source, code, target, iterate, reverse)


class UnknownParameter(InvalidInput):
    """A parameter the server does not know (400, or ignored with handling=lenient)."""
