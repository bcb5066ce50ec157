"""The one paging module both services use: bounded numbers, 422 entries, RFC 8288 links."""

from __future__ import annotations

import pytest
from flask import Flask

from shared.paging import MAX_PAGE, page_request, paging_headers
from shared.problems import ValidationProblem


@pytest.fixture
def app() -> Flask:
    return Flask(__name__)


@pytest.mark.parametrize(
    "query",
    ["page=0", f"page={MAX_PAGE + 1}", "page=" + "9" * 40, "per_page=101", "page=1.5", "sort=x"],
)
def test_bad_values_are_422(app, query):
    with app.test_request_context(f"/things?{query}"), pytest.raises(ValidationProblem):
        page_request(("name",), "name")


def test_links_keep_the_query_and_bound_the_pages(app):
    with app.test_request_context("/things?page=2&per_page=10&sort=-name&q=a"):
        paging = page_request(("name",), "name")
        headers = paging_headers(paging, 25)
    assert (paging.page, paging.per_page, paging.sort_field, paging.descending) == (
        2,
        10,
        "name",
        True,
    )
    assert paging.offset == 10
    assert headers["X-Total-Count"] == "25"
    links = dict(
        (part.split('rel="')[1].rstrip('"'), part.split(">")[0].lstrip("<"))
        for part in headers["Link"].split(", ")
    )
    assert set(links) == {"first", "prev", "next", "last"}
    assert links["last"] == "/things?page=3&per_page=10&sort=-name&q=a"
