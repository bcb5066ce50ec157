"""/openapi.json merged from the services' documents; /docs served from local files."""

from __future__ import annotations

import json

from conftest import Scripted, closed_port

AUTH_DOC = {
    "openapi": "3.1.0",
    "info": {"title": "auth", "version": "1"},
    "paths": {
        "/auth/login": {"post": {"responses": {"200": {"$ref": "#/components/responses/Tokens"}}}},
        "/internal/keys": {"get": {"responses": {"200": {"description": "private"}}}},
        "/healthz": {"get": {"responses": {"200": {"description": "auth health"}}}},
    },
    "components": {
        "schemas": {
            "Problem": {"type": "object", "title": "auth problem"},
            "Account": {"type": "object"},
        },
        "responses": {
            "Tokens": {
                "description": "pair",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        },
    },
    "tags": [{"name": "auth"}],
}
CONTENT_DOC = {
    "openapi": "3.1.0",
    "info": {"title": "content", "version": "1"},
    "paths": {
        "/api/items": {
            "get": {
                "responses": {
                    "200": {
                        "description": "items",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    }
                }
            }
        },
        "/internal/events": {"post": {"responses": {"204": {"description": "event"}}}},
    },
    "components": {"schemas": {"Problem": {"type": "object", "title": "content problem"}}},
    "tags": [{"name": "items"}],
}


def serve_documents(auth, content):
    auth.paths["/openapi.json"] = Scripted(body=json.dumps(AUTH_DOC).encode())
    content.paths["/openapi.json"] = Scripted(body=json.dumps(CONTENT_DOC).encode())


def test_documents_are_merged_with_the_gateways_paths(make_app, upstream, second_upstream):
    serve_documents(upstream, second_upstream)
    client = make_app(CONTENT_SERVICE_URL=second_upstream.url).test_client()
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    paths = set(document["paths"])
    assert {"/auth/login", "/api/items", "/me", "/healthz", "/readyz", "/openapi.json"} <= paths
    # Only what the gateway routes: no internal paths, no service health endpoints.
    assert "/internal/keys" not in paths and "/internal/events" not in paths
    assert document["paths"]["/healthz"]["get"]["tags"] == ["gateway"]
    schemas = document["components"]["schemas"]
    assert schemas["Account"] == {"type": "object"}
    assert {"Problem", "content_Problem"} <= set(schemas)
    assert schemas["Problem"]["title"] == "auth problem"
    assert schemas["content_Problem"]["title"] == "content problem"
    items = document["paths"]["/api/items"]["get"]["responses"]["200"]["content"]
    assert items["application/json"]["schema"]["$ref"] == "#/components/schemas/content_Problem"
    assert {t["name"] for t in document["tags"]} >= {"gateway", "auth", "items"}
    assert "x-unavailable-services" not in document["info"]


def test_the_merged_document_is_cached(make_app, upstream):
    serve_documents(upstream, upstream)
    client = make_app().test_client()
    client.get("/openapi.json")
    client.get("/openapi.json")
    assert [s["path"] for s in upstream.seen].count("/openapi.json") == 2  # once per service


def test_a_missing_service_document_is_named_and_retried_soon(make_app, upstream):
    upstream.paths["/openapi.json"] = Scripted(body=json.dumps(AUTH_DOC).encode())
    client = make_app(CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    document = client.get("/openapi.json").get_json()
    assert document["info"]["x-unavailable-services"] == ["content"]
    assert "/auth/login" in document["paths"]
    assert "/me" in document["paths"]


def test_docs_page_and_its_assets_are_served_locally(client):
    assert client.get("/docs").status_code == 308
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html
    assert "//cdn" not in html and "unpkg" not in html and "jsdelivr" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"/docs/{asset}" in html
        served = client.get(f"/docs/{asset}")
        assert served.status_code == 200
