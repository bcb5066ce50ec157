"""/openapi.json: the services' own documents merged with the gateway's paths; /docs shows it.

Each service serves its OpenAPI document at its root. The gateway keeps only the paths
it routes to that service, merges components (renaming a clashing name per service),
adds its own paths and caches the result (briefly when a service could not be read).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect
from flask_swagger_ui import get_swaggerui_blueprint

from gateway_service.gateway_paths import GATEWAY_COMPONENTS, GATEWAY_PATHS, with_edge_answers
from shared.http_client import ServiceClient
from shared.openapi import LICENSE, OPERATIONS, SERVERS, finish

log = logging.getLogger(__name__)

RETRY_INCOMPLETE_SECONDS = 5.0
COMPONENT_SECTIONS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
)

bp = Blueprint("openapi", __name__)


def merge_documents(
    documents: Mapping[str, dict[str, Any]],
    prefixes: Mapping[str, list[str]],
    unavailable: list[str],
) -> dict[str, Any]:
    """One OpenAPI 3.1 document from the services' documents (keyed by upstream name)."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Flask service suite API",
            "version": "1.0.0",
            "description": "Every public path, through the gateway. Errors are RFC 9457 "
            "problem+json; authenticate with `Authorization: Bearer <access token>`.",
            "license": LICENSE,
        },
        "servers": SERVERS,
        "paths": copy.deepcopy(GATEWAY_PATHS),
        "components": copy.deepcopy(GATEWAY_COMPONENTS),
        "tags": [{"name": "gateway", "description": "The gateway's own endpoints"}],
    }
    if unavailable:
        merged["info"]["x-unavailable-services"] = sorted(unavailable)
    seen_tags = {"gateway"}
    for name, document in documents.items():
        document = _rename_clashes(name, document, merged["components"])
        for section, entries in (document.get("components") or {}).items():
            if isinstance(entries, dict):
                merged["components"].setdefault(section, {}).update(entries)
        for path, item in (document.get("paths") or {}).items():
            if any(path == p or path.startswith(p + "/") for p in prefixes.get(name, [])):
                merged["paths"][path] = {
                    method: with_edge_answers(value) if method in OPERATIONS else value
                    for method, value in item.items()
                }
        for tag in document.get("tags") or []:
            if isinstance(tag, dict) and tag.get("name") not in seen_tags:
                seen_tags.add(tag["name"])
                merged["tags"].append(tag)
    return finish(merged)


def _rename_clashes(
    name: str, document: dict[str, Any], existing: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Give a component that differs from a same-named one already merged a service prefix."""
    renames: dict[str, str] = {}
    for section in COMPONENT_SECTIONS:
        entries = (document.get("components") or {}).get(section) or {}
        for key, value in entries.items():
            taken = existing.get(section, {}).get(key)
            if taken is not None and taken != value:
                renames[f"#/components/{section}/{key}"] = f"#/components/{section}/{name}_{key}"
    if not renames:
        return document
    text = json.dumps(document)
    for old, new in renames.items():
        text = text.replace(json.dumps(old), json.dumps(new))
    renamed = json.loads(text)
    for old, new in renames.items():
        section, old_key, new_key = old.split("/")[2], old.split("/")[3], new.split("/")[3]
        entries = renamed["components"][section]
        entries[new_key] = entries.pop(old_key)
    return renamed


class MergedDocument:
    """The merged document, rebuilt at most every `ttl` seconds per process."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._document: dict[str, Any] | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def get(self, upstreams: Mapping[str, ServiceClient], prefixes: Mapping[str, list[str]]) -> Any:
        with self._lock:
            if self._document is None or time.monotonic() >= self._expires:
                documents, unavailable = _fetch_all(upstreams)
                self._document = merge_documents(documents, prefixes, unavailable)
                ttl = self.ttl if not unavailable else min(self.ttl, RETRY_INCOMPLETE_SECONDS)
                self._expires = time.monotonic() + ttl
            return self._document


def _fetch_all(upstreams: Mapping[str, ServiceClient]) -> tuple[dict[str, Any], list[str]]:
    documents, unavailable = {}, []
    for name, upstream in upstreams.items():
        try:
            response = upstream.get("/openapi.json", timeout=3.0)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("no OpenAPI document from %s: %s", name, type(exc).__name__)
            unavailable.append(name)
            continue
        if isinstance(document, dict):
            documents[name] = document
        else:
            unavailable.append(name)
    return documents, unavailable


@bp.get("/openapi.json")
def openapi_json() -> Response:
    merged: MergedDocument = current_app.extensions["openapi"]
    document = merged.get(current_app.extensions["services"], current_app.extensions["prefixes"])
    return jsonify(document)


@bp.get("/docs")
def docs_root() -> Any:
    return redirect("/docs/", 308)


def init_openapi(app: Flask) -> None:
    app.extensions["openapi"] = MergedDocument(app.config["OPENAPI_CACHE_SECONDS"])
    app.register_blueprint(bp)
    # Swagger UI's files ship inside the flask-swagger-ui wheel: no CDN is contacted.
    app.register_blueprint(
        get_swaggerui_blueprint(
            "/docs", "/openapi.json", config={"app_name": "Flask service suite API"}
        )
    )
