"""The OpenAPI document: valid 3.1, every public route in it, shapes from the same schemas."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from content_service.schemas import ItemCreate, PostCreate, UserUpdate


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_is_a_valid_openapi_31_document(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_public_route_and_method_is_documented(app, document):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "{id}", rule.rule)
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (method, path)
    assert not any(p.startswith("/internal") for p in document["paths"])


def test_request_schemas_are_the_validating_ones(document):
    schemas = document["components"]["schemas"]
    for model in (PostCreate, ItemCreate, UserUpdate):
        assert schemas[model.__name__] == model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        assert schemas[model.__name__]["additionalProperties"] is False
    assert schemas["PostCreate"]["properties"]["title"]["maxLength"] == 200
    assert schemas["ItemCreate"]["properties"]["price"]["minimum"] == 0


def test_parameters_bodies_and_problem_responses(document):
    posts = document["paths"]["/api/posts"]
    names = {p["name"] for p in posts["get"]["parameters"]}
    assert {"page", "per_page", "sort", "author", "q"} <= names
    assert {"q", "min_price", "max_price"} <= {
        p["name"] for p in document["paths"]["/api/items"]["get"]["parameters"]
    }
    assert posts["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PostCreate"
    )
    assert "Idempotency-Key" in {p["name"] for p in posts["post"]["parameters"]}
    single = document["paths"]["/api/items/{id}"]
    assert {"412", "403", "422"} <= set(single["patch"]["responses"])
    problem = document["components"]["responses"]["ValidationFailed"]["content"]
    assert "application/problem+json" in problem
    assert set(document["components"]["schemas"]["ProblemDetails"]["required"]) >= {
        "type",
        "title",
        "status",
    }


def test_public_schemas_match_real_answers(client, document, auth_headers, create_account):
    create_account(1, "alice")
    schemas = document["components"]["schemas"]
    post = client.post(
        "/api/posts", json={"title": "t", "content": "c"}, headers=auth_headers
    ).get_json()
    item = client.post(
        "/api/items", json={"name": "n", "price": 1}, headers=auth_headers
    ).get_json()
    user = client.get("/api/users/1", headers=auth_headers).get_json()
    for body, name in ((post, "PostPublic"), (item, "ItemPublic"), (user, "UserPublic")):
        assert set(body) == set(schemas[name]["properties"]), name
        assert set(schemas[name]["required"]) <= set(body), name
