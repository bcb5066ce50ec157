"""HTTP rules every service keeps: private answers not stored, no body headers without a body,
no redirect made from the Host header."""

from __future__ import annotations

import pytest
from flask import Flask

from shared.config import build_config
from shared.cookie_auth import ACCESS_COOKIE, access_cookie
from shared.http_semantics import mark_personal
from shared.service import init_service


@pytest.fixture
def client():
    app = Flask("svc")
    app.config.update(build_config("svc", {}))
    init_service(app)

    @app.get("/public")
    def public() -> str:
        return "same for everyone"

    @app.get("/mine")
    def mine() -> str:
        mark_personal()
        return "about you"

    @app.get("/maybe-mine")
    def maybe_mine() -> str:
        return "about you" if access_cookie() else "about nobody"

    @app.delete("/things/<int:n>")
    def delete(n: int) -> tuple[str, int]:
        return "", 204

    @app.get("/things/")
    def things() -> str:
        return "[]"

    return app.test_client()


def test_an_answer_about_the_caller_is_not_stored_and_varies_by_cookie(client):
    response = client.get("/mine")
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]


def test_an_answer_chosen_by_the_cookie_varies_by_it(client):
    anonymous = client.get("/maybe-mine")
    assert "Cache-Control" not in anonymous.headers
    assert "Cookie" in anonymous.headers["Vary"]
    client.set_cookie(ACCESS_COOKIE, "a token")
    signed_in = client.get("/maybe-mine")
    assert signed_in.headers["Cache-Control"] == "no-store"
    assert "Cookie" in signed_in.headers["Vary"]


def test_a_public_answer_is_left_alone(client):
    response = client.get("/public")
    assert "Cache-Control" not in response.headers and "Vary" not in response.headers


def test_204_carries_no_body_headers(client):
    """Regression: a 204 from a DELETE carried Content-Type: text/html."""
    response = client.delete("/things/1")
    assert response.status_code == 204
    assert "Content-Type" not in response.headers
    assert "Content-Length" not in response.headers


@pytest.mark.parametrize("path", ["/things//1", "//things/1", "/public//"])
def test_no_redirect_is_built_from_the_host_header(client, path):
    """Regression: werkzeug merged duplicate slashes with a redirect to the Host header."""
    response = client.delete(path, headers={"Host": "evil.example"})
    assert response.status_code in (404, 405)
    assert "Location" not in response.headers


def test_a_missing_trailing_slash_is_served_not_redirected(client):
    response = client.get("/things", headers={"Host": "evil.example"})
    assert response.status_code == 200
    assert "Location" not in response.headers


def test_a_problem_names_at_most_a_hundred_bad_fields():
    """The document bounds `errors` (maxItems 100); a body with more bad fields stays in it."""
    from shared.problems import MAX_FIELD_ERRORS, problem_body

    errors = [{"field": f"f{n}" * 300, "message": "unknown field"} for n in range(150)]
    body = problem_body(422, errors=errors)
    assert len(body["errors"]) == MAX_FIELD_ERRORS == 100
    assert body["errors"][0]["field"] == "f0" * 300
