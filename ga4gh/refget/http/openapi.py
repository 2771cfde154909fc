"""OpenAPI 3.1 description of the Sequence Collections API (seqcol 1.0.0 section 3.6)."""

from __future__ import annotations

from typing import Any

from ga4gh.refget.core.seqcol import RETRIEVABLE, SCHEMA

_ERROR = {
    "type": "object",
    "required": ["status_code", "error", "message"],
    "properties": {
        "status_code": {"type": "integer"},
        "error": {"type": "string", "examples": ["NotFound"]},
        "message": {"type": "string"},
    },
}
_PAGINATION = {
    "type": "object",
    "required": ["page", "page_size", "total"],
    "properties": {
        "page": {"type": "integer", "minimum": 0},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
        "total": {"type": "integer", "minimum": 0},
    },
}
_LIST = {
    "type": "object",
    "required": ["results", "pagination"],
    "properties": {
        "results": {"type": "array", "items": {"type": "string"}},
        "pagination": {"$ref": "#/components/schemas/Pagination"},
    },
}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_COMPARISON = {
    "type": "object",
    "required": ["digests", "attributes", "array_elements"],
    "properties": {
        "digests": {
            "type": "object",
            "properties": {"a": {"type": ["string", "null"]}, "b": {"type": ["string", "null"]}},
        },
        "attributes": {
            "type": "object",
            "properties": {
                k: {"type": "array", "items": {"type": "string"}}
                for k in ("a_only", "b_only", "a_and_b")
            },
        },
        "array_elements": {
            "type": "object",
            "properties": {
                "a_count": _COUNTS,
                "b_count": _COUNTS,
                "a_and_b_count": _COUNTS,
                "a_and_b_same_order": {
                    "type": "object",
                    "additionalProperties": {"type": ["boolean", "null"]},
                },
            },
        },
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for s in statuses
    }


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _digest(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {
        "name": "page_size",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
]


def seqcol_openapi(server_url: str) -> dict[str, Any]:
    """The OpenAPI document, with this deployment's base path as server URL."""
    collection_ref = {"$ref": "#/components/schemas/SeqCol"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "genomseq Sequence Collections API",
            "version": "1.0.0",
            "description": "GA4GH Refget Sequence Collections 1.0.0.",
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/service-info": {
                "get": {
                    "summary": "GA4GH service-info with the seqcol JSON Schema",
                    "responses": _ok({"type": "object"}, "service-info"),
                }
            },
            "/collection/{digest}": {
                "get": {
                    "summary": "A sequence collection at level 1 or 2",
                    "parameters": [
                        _digest("digest", "top-level (level 0) digest"),
                        {
                            "name": "level",
                            "in": "query",
                            "schema": {"type": "integer", "enum": [1, 2], "default": 2},
                        },
                    ],
                    "responses": {**_ok(collection_ref, "the collection"), **_errors(400, 404)},
                }
            },
            "/comparison/{digest1}/{digest2}": {
                "get": {
                    "summary": "Compare two stored collections",
                    "parameters": [
                        _digest("digest1", "collection a"),
                        _digest("digest2", "collection b"),
                    ],
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/Comparison"}, "comparison"),
                        **_errors(404),
                    },
                }
            },
            "/comparison/{digest1}": {
                "post": {
                    "summary": "Compare a stored collection with a level 2 collection in the body",
                    "parameters": [_digest("digest1", "collection a")],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": collection_ref}},
                    },
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/Comparison"}, "comparison"),
                        **_errors(400, 404, 415),
                    },
                }
            },
            "/list/collection": {
                "get": {
                    "summary": "Page through collection digests, AND-filtered by level 1 digests",
                    "parameters": [
                        *_PAGE_PARAMS,
                        *(
                            {"name": a, "in": "query", "schema": {"type": "string"}}
                            for a in SCHEMA["properties"]
                        ),
                    ],
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/List"}, "digests"),
                        **_errors(400),
                    },
                }
            },
            "/list/attributes/{attribute}": {
                "get": {
                    "summary": "Page through the level 1 digests stored for an attribute",
                    "parameters": [_digest("attribute", "attribute name"), *_PAGE_PARAMS],
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/List"}, "digests"),
                        **_errors(400, 404),
                    },
                }
            },
            "/attribute/collection/{attribute}/{digest}": {
                "get": {
                    "summary": "The level 2 value of an attribute by its level 1 digest",
                    "parameters": [
                        {
                            "name": "attribute",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(RETRIEVABLE)},
                        },
                        _digest("digest", "level 1 digest of the attribute value"),
                    ],
                    "responses": {**_ok({"type": "array"}, "the value"), **_errors(404)},
                }
            },
        },
        "components": {
            "schemas": {
                "SeqCol": SCHEMA,
                "Comparison": _COMPARISON,
                "List": _LIST,
                "Pagination": _PAGINATION,
                "Error": _ERROR,
            }
        },
    }
