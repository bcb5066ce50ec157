"""Auth's own OpenAPI document: valid 3.1, every route in it, shapes from the validating schemas."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from auth_service.schemas import AccountUpdate, Login, PasswordChange, Register

METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_is_a_valid_openapi_31_document(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_openapi_documents_every_public_route(app, document):
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/auth"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served == documented


def test_every_reference_resolves(document):
    text = str(document)
    for section, name in set(re.findall(r"#/components/(\w+)/(\w+)", text)):
        assert name in document["components"][section], (section, name)


def test_request_schemas_are_the_validating_ones(document):
    schemas = document["components"]["schemas"]
    for model in (Register, Login, PasswordChange, AccountUpdate):
        assert schemas[model.__name__] == model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        assert schemas[model.__name__]["additionalProperties"] is False
    assert schemas["Register"]["properties"]["username"]["maxLength"] == 80
    assert schemas["AccountUpdate"]["properties"]["roles"]["maxItems"] == 20


def test_paging_is_bounded_in_the_document(document):
    parameters = {p["name"]: p for p in document["paths"]["/auth/accounts"]["get"]["parameters"]}
    assert parameters["page"]["schema"]["maximum"] == 100_000
    assert parameters["per_page"]["schema"]["maximum"] == 100


def test_every_operation_has_an_id_and_says_its_security(document):
    ids = []
    for item in document["paths"].values():
        for method, operation in item.items():
            if method in METHODS:
                ids.append(operation["operationId"])
                assert "security" in operation, operation["operationId"]
    assert len(ids) == len(set(ids))
    login = document["paths"]["/auth/login"]["post"]
    assert login["security"] == []
    assert document["paths"]["/auth/me"]["get"]["security"] == [{"bearerAuth": []}]


def test_public_schemas_match_real_answers(client, document, register, login, admin_headers):
    schemas = document["components"]["schemas"]
    account = register()
    pair = login()
    admin_view = client.get(f"/auth/accounts/{account['id']}", headers=admin_headers).get_json()
    for body, name in (
        (account, "AccountPublic"),
        (pair, "TokenPair"),
        (admin_view, "AdminAccount"),
    ):
        assert set(body) == set(schemas[name]["properties"]), name
        assert set(schemas[name]["required"]) <= set(body), name
