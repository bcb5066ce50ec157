"""Lists: Link headers, exact totals without COUNT(*), and pages served from indexes."""

from __future__ import annotations

import pytest
from conftest import make_app
from flask_migrate import upgrade
from sqlalchemy import text

from content_service.extensions import db


def test_link_header_names_first_prev_next_last(client, auth_headers):
    for n in range(7):
        client.post("/api/items", json={"name": f"i{n}", "price": n}, headers=auth_headers)
    response = client.get("/api/items?per_page=3&page=2&sort=price&q=i")
    links = dict(
        (part.split(";")[1].strip(), part.split(";")[0].strip(" <>"))
        for part in response.headers["Link"].split(",")
    )
    assert set(links) == {'rel="first"', 'rel="prev"', 'rel="next"', 'rel="last"'}
    assert links['rel="last"'] == "/api/items?per_page=3&page=3&sort=price&q=i"
    assert links['rel="first"'].endswith("page=1&sort=price&q=i")
    first = client.get("/api/items?per_page=3")
    assert 'rel="prev"' not in first.headers["Link"]
    last = client.get("/api/items?per_page=3&page=3")
    assert 'rel="next"' not in last.headers["Link"]
    assert len(last.get_json()) == 1
    beyond = client.get("/api/items?per_page=3&page=9")
    assert beyond.get_json() == []
    assert beyond.headers["X-Total-Count"] == "7"


def test_empty_list(client):
    response = client.get("/api/posts")
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert 'rel="last"' in response.headers["Link"]


def test_totals_stay_exact_through_creates_and_deletes(client, auth_headers):
    urls = [
        client.post(
            "/api/posts", json={"title": "t", "content": "c"}, headers=auth_headers
        ).headers["Location"]
        for _ in range(4)
    ]
    client.delete(urls[0], headers=auth_headers)
    client.delete(urls[0], headers=auth_headers)  # already gone: no double decrement
    assert client.get("/api/posts").headers["X-Total-Count"] == "3"
    assert client.get("/api/posts?q=t").headers["X-Total-Count"] == "3"


@pytest.fixture
def sqlite_app(tmp_path, redis_server, tokens):
    """Query plans are checked on SQLite, whatever the suite runs on (PostgreSQL picks plans
    by table statistics, so a near-empty test table says nothing there)."""
    app = make_app(f"sqlite:///{tmp_path / 'plans.sqlite3'}", redis_server, tokens)
    with app.app_context():
        upgrade()
        yield app
        db.engine.dispose()


def _plan(sql: str, **params) -> str:
    rows = db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params).all()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("posts", "created_at"),
        ("posts", "updated_at"),
        ("posts", "title"),
        ("items", "created_at"),
        ("items", "updated_at"),
        ("items", "name"),
        ("items", "price"),
        ("users", "created_at"),
    ],
)
def test_every_sort_order_is_an_index_scan(sqlite_app, table, column):
    for direction in ("ASC", "DESC"):
        order = f"{column} {direction}, id {direction}"
        plan = _plan(f"SELECT id FROM {table} ORDER BY {order} LIMIT 20 OFFSET 40")
        assert "USING" in plan and "INDEX" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_author_filter_uses_its_index(sqlite_app):
    order = "created_at DESC, id DESC"
    plan = _plan(f"SELECT id FROM posts WHERE author_id = 1 ORDER BY {order} LIMIT 20")
    assert "ix_posts_author_id_created_at_id" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_totals_stay_exact_while_deltas_are_folded_in(app, client, auth_headers, monkeypatch):
    from content_service import counters

    def total() -> int:
        return int(client.get("/api/items").headers["X-Total-Count"])

    urls = [
        client.post("/api/items", json={"name": "n", "price": 1}, headers=auth_headers).headers[
            "Location"
        ]
        for _ in range(5)
    ]
    assert total() == 5
    monkeypatch.setattr(counters, "FOLD_EVERY", 1)  # every write folds
    assert client.delete(urls[0], headers=auth_headers).status_code == 204
    with app.app_context():
        folded = db.session.execute(
            text("SELECT total FROM row_counts WHERE table_name = 'items'")
        ).scalar()
        pending = db.session.execute(text("SELECT COUNT(*) FROM row_count_deltas")).scalar()
    assert (folded, pending) == (4, 0)  # its own delta folded in with the others
    assert total() == 4
    client.post("/api/items", json={"name": "n", "price": 1}, headers=auth_headers)
    assert total() == 5
