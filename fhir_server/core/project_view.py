"""A research project's view of the clinical data node (FHIR R4 4.0.1: resource.html#id,
references.html, datatypes.html#Identifier, bundle.html, http.html#paging; § 64e Abs. 9c
SGB V and GenDV § 4: research projects receive data under their own pseudonyms).

Researchers never see the node's internal pseudonyms, nor anything that links what one
project sees to what another project (or the node) sees:

- Identifiers in the node's pseudonym system (``urn:genomseq:pseudonym:kdk:<node>``, on
  Patient, RelatedPerson, Person and in ``Reference.identifier``) become the trust center's
  pseudonyms of the same subjects in the project's domain ``project:<id>`` with the system
  ``urn:genomseq:pseudonym:project:<id>``. Pseudonyms the trust center does not know are
  removed, never passed through.
- Logical ids (``Resource.id``) and every reference to one (``Reference.reference``,
  ``Bundle.entry.fullUrl``, ``request.url``, ``response.location``, link URLs) become
  per-project ids: the deterministic authenticated encryption AES-SIV (RFC 5297, AES-256) of
  the id, with the resource type as associated data, under a key derived per project with
  HKDF-SHA-256 (RFC 5869) from one server secret. The ciphertext (16-byte synthetic IV plus
  the packed id) is written in the FHIR id alphabet ``[A-Za-z0-9\\-.]`` (base64 with ``-``
  and ``.``). The same id gives the same project id within a project (references stay
  consistent), different unlinkable ids across projects, and maps back on input; an id that
  does not decrypt under the caller's project (another project's, a node id, a forgery) is
  unknown (404).
- Paging cursors in links are encrypted the same way, so a cursor of one project is useless
  in another and carries no node values.

FHIR ids have at most 64 characters, so a project id carries at most 48 bytes: the
server-assigned UUIDs and the trust center's pseudonyms (``k<version>.<32 hex>``, used as
Patient ids) are packed into 17 and 20 bytes; any other id of at most 41 characters is packed
at six bits a character. A longer client-assigned id cannot be expressed: such a resource is
not shown to researchers (reads answer 404, searches leave it out and say so in an
OperationOutcome entry) and references to it lose their ``reference`` (type, identifier and
display stay).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fhir_server.core.errors import InvalidRequest, ResourceNotFound
from fhir_server.core.pseudonymize import pseudonym_system
from fhir_server.core.types import ID_PATTERN, R4_RESOURCE_TYPES

HKDF_SALT = b"genomseq/fhir/project-view/v1"
# The FHIR id alphabet in base64 order: A-Z a-z 0-9 then "-" and "." for "+" and "/".
_TO_ID = bytes.maketrans(b"+/", b"-.")
_FROM_ID = bytes.maketrans(b"-.", b"+/")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-."
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PSEUDONYM = re.compile(r"k([1-9][0-9]{0,5})\.([0-9a-f]{32})")
_UUID_TAG, _PSEUDONYM_TAG, _PACKED_TAG = 0x01, 0x02, 0x80
MAX_PACKED_ID = 41  # 1 tag byte + ceil(6 * 41 / 8) = 32 bytes; + 16 bytes SIV = 48 bytes
MAX_PLAINTEXT = 32
CURSOR_PARAMS = ("_cursor", "_page")
PSEUDONYM_SYSTEM_PREFIX = "urn:genomseq:pseudonym:"

# Node pseudonyms -> the same subjects' pseudonyms in the project's domain (trust center);
# unknown ones are left out of the answer.
ProjectTranslator = Callable[[Sequence[str]], Mapping[str, str]]


class IdNotShareable(ValueError):
    """A logical id too long to be expressed as a project id (see the module docstring)."""


def project_domain(project: str) -> str:
    """The trust center's pseudonym domain of a research project (data-access application)."""
    return f"project:{project}"


def project_key(secret: bytes, project: str) -> bytes:
    """The AES-256-SIV key (64 bytes) of one project, derived from the server secret."""
    if len(secret) < 32:
        raise ValueError("the project view secret must have at least 32 bytes")
    info = b"project-id-key\x00" + project.encode()
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=HKDF_SALT, info=info).derive(secret)


def _pack(res_id: str) -> bytes:
    if _UUID.fullmatch(res_id):
        return bytes([_UUID_TAG]) + bytes.fromhex(res_id.replace("-", ""))
    match = _PSEUDONYM.fullmatch(res_id)
    if match:
        return (bytes([_PSEUDONYM_TAG]) + int(match.group(1)).to_bytes(3, "big")
                + bytes.fromhex(match.group(2)))
    if len(res_id) > MAX_PACKED_ID:
        raise IdNotShareable("ids longer than 41 characters cannot be shown to researchers")
    number = 0
    for ch in res_id:
        number = (number << 6) | _INDEX[ch]
    size = (6 * len(res_id) + 7) // 8
    return bytes([_PACKED_TAG | len(res_id)]) + number.to_bytes(size, "big")


def _unpack(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty")
    tag, body = raw[0], raw[1:]
    if tag == _UUID_TAG and len(body) == 16:
        h = body.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if tag == _PSEUDONYM_TAG and len(body) == 19:
        version = int.from_bytes(body[:3], "big")
        return f"k{version}.{body[3:].hex()}"
    n = tag & 0x7F
    if tag & _PACKED_TAG and 1 <= n <= MAX_PACKED_ID and len(body) == (6 * n + 7) // 8:
        number = int.from_bytes(body, "big")
        chars = [_ALPHABET[(number >> (6 * i)) & 0x3F] for i in range(n)]
        return "".join(reversed(chars))
    raise ValueError("not a packed id")


def _b64_id(data: bytes) -> str:
    return base64.b64encode(data).rstrip(b"=").translate(_TO_ID).decode()


def _b64_id_decode(text: str) -> bytes:
    raw = text.encode().translate(_FROM_ID)
    return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)


class IdCipher:
    """Logical ids <-> a project's ids (AES-SIV; associated data: purpose and resource type)."""

    def __init__(self, key: bytes) -> None:
        self._siv = AESSIV(key)
        self._cache: dict[tuple[str, str], str] = {}

    def encode(self, res_type: str, res_id: str) -> str:
        """The project id of ``res_type/res_id``; IdNotShareable if the id is too long."""
        cached = self._cache.get((res_type, res_id))
        if cached is None:
            sealed = self._siv.encrypt(_pack(res_id), [b"fhir-id", res_type.encode()])
            cached = self._cache[(res_type, res_id)] = _b64_id(sealed)
        return cached

    def decode(self, res_type: str, project_id: str) -> str | None:
        """The logical id behind a project id of ``res_type``; None if it is not one."""
        if not isinstance(project_id, str) or not ID_PATTERN.fullmatch(project_id):
            return None
        try:
            raw = _b64_id_decode(project_id)
            if len(raw) <= 16:
                return None
            return _unpack(self._siv.decrypt(raw, [b"fhir-id", res_type.encode()]))
        except (InvalidTag, ValueError, binascii.Error):
            return None

    def seal(self, purpose: str, text: str) -> str:
        """An opaque, authenticated, project-bound form of a server token (paging cursors)."""
        sealed = self._siv.encrypt(text.encode(), [purpose.encode()])
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def unseal(self, purpose: str, token: str) -> str | None:
        """Inverse of :meth:`seal`; None if the token was not sealed for this project."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return self._siv.decrypt(raw, [purpose.encode()]).decode()
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
            return None


@dataclass
class ProjectView:
    """Rewrites one researcher request into node terms and its answer into project terms."""

    project: str
    node_domain: str
    cipher: IdCipher
    translate: ProjectTranslator
    bases: tuple[str, ...] = ()
    # node value -> project value for everything mapped back on input (for links and messages)
    _inbound: dict[str, str] = field(default_factory=dict)

    @property
    def node_system(self) -> str:
        """Identifier system of the node's pseudonyms."""
        return pseudonym_system(self.node_domain)

    @property
    def project_system(self) -> str:
        """Identifier system of the project's pseudonyms."""
        return pseudonym_system(project_domain(self.project))

    # --- input ---------------------------------------------------------------------------

    def id_in(self, res_type: str, project_id: str) -> str:
        """The logical id behind a project id; 404 unless it is one of this project's."""
        node_id = self.cipher.decode(res_type, project_id)
        if node_id is None:
            raise ResourceNotFound(f"{res_type}/{project_id} is not known")
        self._inbound[node_id] = project_id
        return node_id

    def reference_in(self, value: str, targets: Sequence[str] = ()) -> str:
        """A reference search value (``Type/id``, ``[base]/Type/id`` or a bare id of a
        parameter with one target type) in node terms; 404 if not this project's."""
        base, res_type, pid = _split_reference(value, self.bases)
        if res_type is None:
            if not ID_PATTERN.fullmatch(value) or len(targets) != 1:
                raise InvalidRequest(f"give the reference as Type/id: {value!r}")
            return self.id_in(targets[0], value)
        node_id = self.id_in(res_type, pid)
        self._inbound[f"{res_type}/{node_id}"] = f"{res_type}/{pid}"
        self._inbound[f"{base}{res_type}/{node_id}"] = value
        return f"{base}{res_type}/{node_id}"

    def params_in(
        self, res_type: str, params: Sequence[tuple[str, str]],
        reference_targets: Callable[[str, str], Sequence[str] | None],
    ) -> list[tuple[str, str]]:
        """Search parameters in node terms: ``_id``, reference-typed values and paging
        cursors are mapped back; pseudonym identifier systems are refused (400).

        ``reference_targets(res_type, code)`` gives a reference parameter's target types
        (None for parameters of other types).
        """
        out: list[tuple[str, str]] = []
        for name, value in params:
            if PSEUDONYM_SYSTEM_PREFIX in value:
                raise InvalidRequest(
                    "searching by pseudonym identifiers is not available to researchers")
            code, _, modifier = name.partition(":")
            if code in CURSOR_PARAMS:
                plain = self.cipher.unseal(code, value)
                if plain is None:
                    raise InvalidRequest("invalid paging token")
                out.append((name, plain))
                continue
            if code == "_id":
                value = ",".join(self.id_in(res_type, v) for v in value.split(","))
            elif "." not in name and modifier not in ("identifier", "missing"):
                # (chained parameters name another resource's element, not an id here)
                targets = reference_targets(res_type, code)
                if targets is not None:
                    if modifier in R4_RESOURCE_TYPES:
                        value = ",".join(self.reference_in(f"{modifier}/{v}")
                                         .rpartition("/")[2] for v in value.split(","))
                    else:
                        value = ",".join(self.reference_in(v, targets)
                                         for v in value.split(","))
            out.append((name, value))
        return out

    # --- output --------------------------------------------------------------------------

    def resources_out(self, resources: Sequence[dict[str, Any]]) -> list[bool]:
        """Rewrite resources in place; per resource, False if it cannot be shown (its id
        cannot be expressed as a project id)."""
        wanted = sorted({v for r in resources for v in self._node_pseudonyms(r)})
        mapped = dict(self.translate(wanted)) if wanted else {}
        shown = []
        for resource in resources:
            rid, rtype = resource.get("id"), resource.get("resourceType")
            if isinstance(rid, str) and isinstance(rtype, str):
                try:
                    resource["id"] = self.cipher.encode(rtype, rid)
                except IdNotShareable:
                    shown.append(False)
                    continue
            self._rewrite(resource, mapped, top=True)
            shown.append(True)
        return shown

    def resource_out(self, resource: dict[str, Any]) -> dict[str, Any]:
        """One resource (a read) in project terms; 404 if it cannot be shown."""
        if resource.get("resourceType") == "Bundle":
            return self.bundle_out(resource)
        if resource.get("resourceType") == "OperationOutcome":
            return self.outcome_out(resource)
        if not self.resources_out([resource])[0]:
            raise ResourceNotFound("this resource is not available in the project's view")
        return resource

    def bundle_out(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """A Bundle in project terms: entries, fullUrls, request/response URLs and links."""
        entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
        with_resource = [e for e in entries if isinstance(e.get("resource"), dict)
                         and e["resource"].get("resourceType") not in ("OperationOutcome",)]
        shown = self.resources_out([e["resource"] for e in with_resource])
        hidden = {id(e) for e, ok in zip(with_resource, shown, strict=True) if not ok}
        kept = []
        for entry in entries:
            if id(entry) in hidden:
                continue
            resource = entry.get("resource")
            if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
                self.outcome_out(resource)
            for holder, key in ((entry, "fullUrl"), (entry.get("request"), "url"),
                                (entry.get("response"), "location")):
                if isinstance(holder, dict) and isinstance(holder.get(key), str):
                    new = self._reference_out(holder[key])
                    if new is None:
                        holder.pop(key)
                    else:
                        holder[key] = new
            kept.append(entry)
        if hidden:
            kept.append({"resource": {"resourceType": "OperationOutcome", "issue": [{
                "severity": "warning", "code": "suppressed",
                "diagnostics": f"{len(hidden)} resource(s) with ids longer than "
                               f"{MAX_PACKED_ID} characters are not shown to researchers"}]},
                "search": {"mode": "outcome"}})
        if "entry" in bundle:
            bundle["entry"] = kept
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and isinstance(link.get("url"), str):
                link["url"] = self.url_out(link["url"])
        return bundle

    def outcome_out(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """An OperationOutcome whose texts may quote what the request named, in node terms."""
        for issue in outcome.get("issue") or []:
            if not isinstance(issue, dict):
                continue
            if isinstance(issue.get("diagnostics"), str):
                issue["diagnostics"] = self._text_out(issue["diagnostics"])
            details = issue.get("details")
            if isinstance(details, dict) and isinstance(details.get("text"), str):
                details["text"] = self._text_out(details["text"])
        return outcome

    def url_out(self, url: str) -> str:
        """A link URL (self, next, previous) in project terms."""
        parts = urlsplit(url)
        segments = parts.path.split("/")
        for i in range(1, len(segments)):
            if segments[i - 1] in R4_RESOURCE_TYPES and ID_PATTERN.fullmatch(segments[i]):
                segments[i] = self._id_out(segments[i - 1], segments[i]) or segments[i]
        params = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            code = name.partition(":")[0]
            if code in CURSOR_PARAMS:
                value = self.cipher.seal(code, value)
            else:
                value = ",".join(self._inbound.get(v, v) for v in value.split(","))
            params.append((name, value))
        return urlunsplit(parts._replace(path="/".join(segments), query=urlencode(params)))

    # --- helpers -------------------------------------------------------------------------

    def _id_out(self, res_type: str, res_id: str) -> str | None:
        try:
            return self.cipher.encode(res_type, res_id)
        except IdNotShareable:
            return None

    def _reference_out(self, value: str) -> str | None:
        base, res_type, rest = _split_reference(value, self.bases, versioned=True)
        if res_type is None:
            return value
        rid, sep, tail = rest.partition("/")
        new = self._id_out(res_type, rid)
        return None if new is None else f"{base}{res_type}/{new}{sep}{tail}"

    def _text_out(self, text: str) -> str:
        for node_value, project_value in sorted(self._inbound.items(), key=lambda kv: -len(kv[0])):
            text = re.sub(rf"(?<![A-Za-z0-9\-.]){re.escape(node_value)}(?![A-Za-z0-9\-.])",
                          project_value, text)
        return text

    def _node_pseudonyms(self, node: Any) -> Iterator[str]:
        for d in _dicts(node):
            if d.get("system") == self.node_system and isinstance(d.get("value"), str):
                yield d["value"]

    def _rewrite(self, node: Any, mapped: Mapping[str, str], top: bool = False) -> Any:
        """Rewrite one element in place; returns False for an identifier to be removed."""
        if isinstance(node, list):
            keep = [item for item in node if self._rewrite(item, mapped) is not False]
            node[:] = keep
            return node
        if not isinstance(node, dict):
            return node
        if node.get("system") == self.node_system and "value" in node:
            value = mapped.get(node["value"]) if isinstance(node["value"], str) else None
            if value is None:
                return False  # the trust center does not know it: never pass it on
            node["system"], node["value"] = self.project_system, value
        for key in list(node):
            child = node[key]
            if key == "reference" and isinstance(child, str):
                new = self._reference_out(child)
                if new is None:
                    del node[key]
                else:
                    node[key] = new
            elif isinstance(child, dict | list) and self._rewrite(child, mapped) is False:
                del node[key]
        return node


def _dicts(node: Any) -> Iterable[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def _split_reference(
    value: str, bases: Sequence[str], versioned: bool = False
) -> tuple[str, str | None, str]:
    """(base prefix, resource type, id[/_history/vid]) of a literal reference to this server;
    type None for anything else (contained ``#x``, ``urn:``, other servers, canonicals)."""
    base = ""
    rest = value
    for b in bases:
        prefix = b.rstrip("/") + "/"
        if value.startswith(prefix):
            base, rest = prefix, value[len(prefix):]
            break
    else:
        if "://" in value or value.startswith(("urn:", "#")):
            return "", None, value
    res_type, sep, tail = rest.partition("/")
    if not sep or res_type not in R4_RESOURCE_TYPES:
        return "", None, value
    rid, _, history = tail.partition("/")
    if not ID_PATTERN.fullmatch(rid):
        return "", None, value
    if history and not (versioned and history.startswith("_history/")):
        return "", None, value
    return base, res_type, tail if versioned else rid
