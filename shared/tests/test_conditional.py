"""The one conditional-request module both services use: RFC 9110's comparisons and answers."""

from __future__ import annotations

import pytest
from flask import Flask

from shared.conditional import (
    MAX_CONDITION_LENGTH,
    conditional_json,
    digest_etag,
    if_match_allows,
    require_fresh,
)
from shared.problems import Problem

BODY = {"id": 1, "name": "x"}


@pytest.fixture
def app() -> Flask:
    return Flask(__name__)


def test_if_none_match_is_weak_and_answers_304_without_body_headers(app):
    tag = digest_etag(BODY)
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        with app.test_request_context(headers={"If-None-Match": header}):
            response = conditional_json(BODY)
        assert response.status_code == 304
        assert response.headers["ETag"] == tag
        assert "Content-Type" not in response.headers
        assert response.get_data() == b""


def test_a_changed_representation_is_sent_with_its_tag(app):
    with app.test_request_context(headers={"If-None-Match": digest_etag({"id": 2})}):
        response = conditional_json(BODY)
    assert response.status_code == 200
    assert response.get_json() == BODY
    assert response.headers["ETag"] == digest_etag(BODY)


def test_if_match_is_strong_and_a_stale_tag_is_412(app):
    tag = digest_etag(BODY)
    cases = {None: None, tag: True, "*": True, f"W/{tag}": False, '"stale"': False}
    for header, expected in cases.items():
        headers = {"If-Match": header} if header else {}
        with app.test_request_context(headers=headers):
            assert if_match_allows([tag]) is expected, header
    stale = app.test_request_context(headers={"If-Match": '"stale"'})
    with stale, pytest.raises(Problem) as raised:
        require_fresh([tag])
    assert raised.value.status == 412


@pytest.mark.parametrize("name", ["If-None-Match", "If-Match"])
def test_a_condition_longer_than_documented_is_refused_naming_the_header(app, name):
    # The documents bound both headers; a longer one is a 422, never silently ignored.
    long_tag = '"' + "0" * MAX_CONDITION_LENGTH + '"'
    with app.test_request_context(headers={name: long_tag}), pytest.raises(Problem) as raised:
        conditional_json(BODY) if name == "If-None-Match" else require_fresh(["x"])
    assert raised.value.status == 422
    assert raised.value.errors == [
        {"field": name, "message": f"At most {MAX_CONDITION_LENGTH} characters."}
    ]
    fits = '"' + "0" * (MAX_CONDITION_LENGTH - 2) + '"'
    with app.test_request_context(headers={name: fits}):
        assert conditional_json(BODY).status_code == 200
