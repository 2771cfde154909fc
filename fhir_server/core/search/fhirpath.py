"""FHIRPath (N1, as used by FHIR R4 4.0.1 SearchParameter.expression): a compiled subset.

FHIRPath Normative Release 1 (http://hl7.org/fhirpath/N1/) sections 3 (path selection,
choice types), 5 (functions: where, exists, first, ofType, as, is, extension, resolve),
6 (operators: ``|``, ``is``, ``as``, ``=``, ``!=``, ``and``, ``or``, indexer ``[n]``). That is
every construct the 1,378 search parameters of R4 4.0.1 use (plus what MII profiles'
custom SearchParameters typically add). Expressions compile once into closures; evaluating
one against a resource is then a few dictionary look-ups.

A collection item is ``(value, type)``: the JSON value and, where the path told us (a choice
element such as ``valueQuantity``), its FHIR type name; ``None`` when unknown.
``resolve()`` does not fetch anything: it yields a reference stub ``_Ref(type)`` so that the
ubiquitous ``where(resolve() is Patient)`` can be decided from the reference's own type.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput

Item = tuple[Any, str | None]
Collection = list[Item]
Fn = Callable[[Collection, Item], Collection]  # (focus, %resource) -> result

PRIMITIVE_TYPES = {
    "boolean", "integer", "string", "decimal", "uri", "url", "canonical", "base64Binary",
    "instant", "date", "dateTime", "time", "code", "oid", "id", "markdown", "unsignedInt",
    "positiveInt", "uuid", "integer64", "xhtml",
}
COMPLEX_TYPES = {
    "Address", "Age", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactPoint",
    "Count", "Distance", "Duration", "HumanName", "Identifier", "Money", "Period",
    "Quantity", "Range", "Ratio", "Reference", "SampledData", "Signature", "Timing",
    "ContactDetail", "Contributor", "DataRequirement", "Expression", "ParameterDefinition",
    "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage", "Meta",
    "SimpleQuantity", "MoneyQuantity",
}
# Names of choice elements (value[x], ...); filled from the registry. Until then (or for
# names missing here) every key is scanned, which is correct, only slower.
CHOICE_NAMES: set[str] = set()
_CHOICE_SUFFIX = {t[0].upper() + t[1:]: t for t in PRIMITIVE_TYPES} | {t: t for t in COMPLEX_TYPES}

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<bt>`[^`]*`)|(?P<var>[$%][A-Za-z]+)|(?P<op>!=|<=|>=|[.()\[\]|=,<>]))"
)


@dataclass(frozen=True)
class _Ref:
    """What ``resolve()`` yields: the type of the referenced resource, if known."""

    type: str | None


def reference_type(ref: str) -> str | None:
    """The resource type a literal reference points at (relative, absolute or versioned)."""
    if not ref or ref.startswith("#"):
        return None
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2]
    return None


def _tokenize(expr: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise InvalidInput(f"FHIRPath: cannot parse {expr[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "bt":
            kind, text = "id", text[1:-1]
        out.append((kind, text))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    out.append(("end", ""))
    return out


class _Parser:
    """Precedence climbing over FHIRPath's operator table (N1 section 6.1)."""

    def __init__(self, expr: str, root_types: frozenset[str]) -> None:
        self.toks = _tokenize(expr)
        self.i = 0
        self.root_types = root_types

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if text is not None and tok[1] != text:
            raise InvalidInput(f"FHIRPath: expected {text!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Fn:
        fn = self.or_expr()
        if self.peek()[0] != "end":
            raise InvalidInput(f"FHIRPath: unexpected {self.peek()[1]!r}")
        return fn

    def or_expr(self) -> Fn:
        left = self.and_expr()
        while self.peek() == ("id", "or"):
            self.take()
            left = _bool_op(left, self.and_expr(), any)
        return left

    def and_expr(self) -> Fn:
        left = self.eq_expr()
        while self.peek() == ("id", "and"):
            self.take()
            left = _bool_op(left, self.eq_expr(), all)
        return left

    def eq_expr(self) -> Fn:
        left = self.union_expr()
        while self.peek()[1] in ("=", "!="):
            op = self.take()[1]
            left = _equality(left, self.union_expr(), op == "!=")
        return left

    def union_expr(self) -> Fn:
        left = self.type_expr()
        while self.peek()[1] == "|":
            self.take()
            left = _union(left, self.type_expr())
        return left

    def type_expr(self) -> Fn:
        left = self.postfix()
        while self.peek() in (("id", "is"), ("id", "as")):
            op = self.take()[1]
            type_name = self.type_specifier()
            left = _chain(left, _is_fn(type_name) if op == "is" else _of_type_fn(type_name))
        return left

    def type_specifier(self) -> str:
        name = self.take()[1]
        while self.peek()[1] == ".":  # FHIR.Patient / System.String
            self.take()
            name = self.take()[1]
        return name

    def postfix(self) -> Fn:
        fn = self.atom(first=True)
        while True:
            tok = self.peek()
            if tok[1] == ".":
                self.take()
                fn = _chain(fn, self.atom(first=False))
            elif tok[1] == "[":
                self.take()
                index = int(self.take()[1])
                self.take("]")
                fn = _chain(fn, _index_fn(index))
            else:
                return fn

    def atom(self, *, first: bool) -> Fn:
        kind, text = self.take()
        if kind == "str":
            value = text[1:-1].replace("\\'", "'")
            return lambda focus, this: [(value, "string")]
        if kind == "num":
            number = float(text) if "." in text else int(text)
            return lambda focus, this: [(number, None)]
        if text == "(" and kind == "op":
            inner = self.or_expr()
            self.take(")")
            return inner
        if kind == "var":
            if text in ("%resource", "%rootResource"):
                return lambda focus, this: [this]
            if text in ("$this", "%context"):
                return lambda focus, this: focus
            raise InvalidInput(f"FHIRPath: unsupported variable {text}")
        if kind != "id":
            raise InvalidInput(f"FHIRPath: unexpected {text!r}")
        if text in ("true", "false") and self.peek()[1] != "(":
            val = text == "true"
            return lambda focus, this: [(val, "boolean")]
        if self.peek()[1] == "(":
            self.take()
            return self.function(text)
        if first and text[:1].isupper():
            # A type name at the start of a path filters the root (Patient.name | ...).
            return _root_fn(text)
        return _child_fn(text)

    def function(self, name: str) -> Fn:
        args: list[Fn] = []
        raw: list[str] = []
        if self.peek()[1] != ")":
            while True:
                if name in ("ofType", "as", "is"):
                    raw.append(self.type_specifier())
                else:
                    args.append(self.or_expr())
                if self.peek()[1] == ",":
                    self.take()
                    continue
                break
        self.take(")")
        if name == "where":
            return _where_fn(args[0])
        if name == "exists":
            return _exists_fn(args[0] if args else None)
        if name == "empty":
            return lambda focus, this: [(not focus, "boolean")]
        if name == "first":
            return lambda focus, this: focus[:1]
        if name == "last":
            return lambda focus, this: focus[-1:]
        if name in ("ofType", "as"):
            return _of_type_fn(raw[0])
        if name == "is":
            return _is_fn(raw[0])
        if name == "resolve":
            return _resolve_fn
        if name == "extension":
            return _extension_fn(args[0])
        if name == "not":
            return lambda focus, this: (
                [(not focus[0][0], "boolean")] if len(focus) == 1 and isinstance(focus[0][0], bool)
                else [])
        raise InvalidInput(f"FHIRPath: unsupported function {name}()")


def _chain(first: Fn, second: Fn) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        return second(first(focus, this), this)
    return run


def _union(left: Fn, right: Fn) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        out = left(focus, this)
        more = right(focus, this)
        if not out:
            return more
        seen = {id(v) for v, _ in out}
        return out + [it for it in more if id(it[0]) not in seen]
    return run


def _root_fn(type_name: str) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        out = []
        for value, vtype in focus:
            if isinstance(value, dict) and (
                value.get("resourceType") == type_name
                or type_name in ("Resource", "DomainResource")
            ):
                out.append((value, vtype))
        return out
    return run


def _child_fn(name: str) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        out: Collection = []
        for value, _ in focus:
            if not isinstance(value, dict):
                continue
            child = value.get(name)
            if child is not None:
                if isinstance(child, list):
                    out.extend((c, None) for c in child)
                else:
                    out.append((child, None))
                continue
            # Choice element: value[x] appears in JSON as valueQuantity, valueString, ...
            if CHOICE_NAMES and name not in CHOICE_NAMES:
                continue
            for key, child in value.items():
                if len(key) > len(name) and key.startswith(name) and key[len(name)].isupper():
                    ftype = _CHOICE_SUFFIX.get(key[len(name):])
                    if ftype is None:
                        continue
                    if isinstance(child, list):
                        out.extend((c, ftype) for c in child)
                    else:
                        out.append((child, ftype))
        return out
    return run


def _index_fn(index: int) -> Fn:
    return lambda focus, this: focus[index:index + 1]


def _where_fn(pred: Fn) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        out = []
        for item in focus:
            res = pred([item], this)
            if len(res) == 1 and res[0][0] is True:
                out.append(item)
        return out
    return run


def _exists_fn(pred: Fn | None) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        if pred is not None:
            focus = _where_fn(pred)(focus, this)
        return [(bool(focus), "boolean")]
    return run


def _type_matches(value: Any, vtype: str | None, type_name: str) -> bool:
    if isinstance(value, _Ref):
        return value.type == type_name or type_name in ("Resource", "DomainResource")
    if vtype is not None:
        return vtype == type_name or (
            type_name == "Quantity" and vtype in ("Age", "Duration", "Distance", "Count",
                                                  "SimpleQuantity", "MoneyQuantity"))
    if isinstance(value, dict) and "resourceType" in value:
        return value["resourceType"] == type_name or type_name in ("Resource", "DomainResource")
    # Untyped (non-choice) element: trust the expression's author, but rule out the impossible.
    if type_name in PRIMITIVE_TYPES:
        return not isinstance(value, dict)
    return isinstance(value, dict)


def _of_type_fn(type_name: str) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        return [(v, t or type_name) for v, t in focus if _type_matches(v, t, type_name)]
    return run


def _is_fn(type_name: str) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        if len(focus) != 1:
            return []
        value, vtype = focus[0]
        return [(_type_matches(value, vtype, type_name), "boolean")]
    return run


def _resolve_fn(focus: Collection, this: Item) -> Collection:
    out: Collection = []
    for value, _ in focus:
        if isinstance(value, dict):
            ref = value.get("reference")
            rtype = reference_type(ref) if isinstance(ref, str) else None
            out.append((_Ref(rtype or value.get("type")), None))
        elif isinstance(value, str):
            out.append((_Ref(reference_type(value)), None))
    return out


def _extension_fn(url_fn: Fn) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        urls = {v for v, _ in url_fn(focus, this)}
        out: Collection = []
        for value, _ in focus:
            if isinstance(value, dict):
                out.extend((e, "Extension") for e in value.get("extension", ())
                           if isinstance(e, dict) and e.get("url") in urls)
        return out
    return run


def _equality(left: Fn, right: Fn, negate: bool) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        lhs, rhs = left(focus, this), right(focus, this)
        if not lhs or not rhs:
            return []
        equal = [v for v, _ in lhs] == [v for v, _ in rhs]
        return [(equal != negate, "boolean")]
    return run


def _bool_op(left: Fn, right: Fn, combine: Callable[[list[bool]], bool]) -> Fn:
    def run(focus: Collection, this: Item) -> Collection:
        values = []
        for side in (left, right):
            res = side(focus, this)
            values.append(len(res) == 1 and res[0][0] is True)
        return [(combine(values), "boolean")]
    return run


@dataclass(frozen=True)
class CompiledPath:
    """A compiled FHIRPath expression; call :meth:`evaluate` on a resource or element.

    ``first_elements``: the top-level elements of the resource the expression can read
    (``None`` when that is not known), so an extractor can skip it for resources that have
    none of them.
    """

    expression: str
    fn: Fn
    first_elements: frozenset[str] | None = None

    def evaluate(self, value: Any, vtype: str | None = None) -> Collection:
        """The result collection of the expression with ``value`` as focus and root."""
        item = (value, vtype)
        return self.fn([item], item)


def _split_union(expr: str) -> list[str]:
    """Top-level ``|`` branches of an expression (outside parentheses and strings)."""
    parts: list[str] = []
    cur: list[str] = []
    depth, in_str = 0, False
    for ch in expr:
        if ch == "'":
            in_str = not in_str
        elif not in_str and ch == "(":
            depth += 1
        elif not in_str and ch == ")":
            depth -= 1
        if ch == "|" and depth == 0 and not in_str:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _branch_root(branch: str) -> str | None:
    stripped = branch.lstrip("( ")
    m = re.match(r"([A-Z][A-Za-z]*)\b", stripped)
    return m.group(1) if m else None


def compile_path(expression: str, resource_type: str | None = None) -> CompiledPath:
    """Compile an expression; with ``resource_type``, drop union branches of other types.

    Registry expressions are unions over all base types (``Patient.name | Practitioner.name``);
    keeping only the branch of the resource at hand makes indexing several times faster.
    """
    text = expression
    if resource_type is not None:
        branches = _split_union(expression)
        if len(branches) > 1:
            kept = [b for b in branches
                    if _branch_root(b) in (None, resource_type, "Resource", "DomainResource")]
            text = " | ".join(kept) if kept else ""
    if not text:
        return CompiledPath(expression, lambda focus, this: [], frozenset())
    first: frozenset[str] | None = None
    if resource_type is not None:
        names: set[str] = set()
        for branch in _split_union(text):
            m = re.match(r"^\(*\s*([A-Z][A-Za-z]*)\.([a-z][A-Za-z0-9]*)\b", branch)
            if not m or m.group(1) not in (resource_type, "Resource", "DomainResource"):
                break
            names.add(m.group(2))
        else:
            first = frozenset(names)
    return CompiledPath(expression, _Parser(text, frozenset()).parse(), first)


def top_level_elements(resource: dict[str, Any]) -> set[str]:
    """The element names present at the top of a resource (choice keys under their base)."""
    out = set()
    for key in resource:
        out.add(key)
        for i in range(1, len(key)):
            if key[i].isupper():
                if key[:i] in CHOICE_NAMES:
                    out.add(key[:i])
                break
    return out
