"""ETags: 304 on If-None-Match, 412 and nothing changed on a stale If-Match, atomically."""

from __future__ import annotations

import pytest

RESOURCES = [
    (
        "/api/posts",
        {"title": "T", "content": "C"},
        {"title": "T2"},
        {"title": "T3", "content": "C3"},
    ),
    ("/api/items", {"name": "N", "price": 1}, {"price": 2}, {"name": "N3", "price": 3}),
]


@pytest.fixture(params=RESOURCES, ids=["posts", "items"])
def resource(request, client, auth_headers):
    collection, body, patch, put = request.param
    created = client.post(collection, json=body, headers=auth_headers)
    return {
        "url": created.headers["Location"],
        "etag": created.headers["ETag"],
        "patch": patch,
        "put": put,
    }


def test_if_none_match_gives_304(client, resource):
    etag = resource["etag"]
    response = client.get(resource["url"], headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["ETag"] == etag
    assert response.get_data() == b""
    assert (
        client.get(resource["url"], headers={"If-None-Match": f'"other", W/{etag}'}).status_code
        == 304
    )
    assert client.get(resource["url"], headers={"If-None-Match": '"stale"'}).status_code == 200


def test_a_change_changes_the_etag(client, resource, auth_headers):
    changed = client.patch(resource["url"], json=resource["patch"], headers=auth_headers)
    assert changed.headers["ETag"] != resource["etag"]
    assert (
        client.get(resource["url"], headers={"If-None-Match": resource["etag"]}).status_code == 200
    )


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_stale_if_match_gives_412_and_changes_nothing(client, resource, auth_headers, method):
    fresh = client.patch(resource["url"], json=resource["patch"], headers=auth_headers)
    before = client.get(resource["url"])
    headers = {**auth_headers, "If-Match": resource["etag"]}
    body = None if method == "delete" else resource["put"]
    response = getattr(client, method)(resource["url"], json=body, headers=headers)
    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"
    after = client.get(resource["url"])
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == fresh.headers["ETag"]


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_current_if_match_succeeds(client, resource, auth_headers, method):
    headers = {**auth_headers, "If-Match": resource["etag"]}
    body = {"patch": resource["patch"], "put": resource["put"], "delete": None}[method]
    response = getattr(client, method)(resource["url"], json=body, headers=headers)
    assert response.status_code == (204 if method == "delete" else 200)


def test_weak_and_wildcard_if_match(client, resource, auth_headers):
    weak = {**auth_headers, "If-Match": f"W/{resource['etag']}"}
    assert client.patch(resource["url"], json=resource["patch"], headers=weak).status_code == 412
    star = {**auth_headers, "If-Match": "*"}
    assert client.patch(resource["url"], json=resource["patch"], headers=star).status_code == 200


def test_two_writers_with_the_same_etag_only_one_wins(client, resource, auth_headers):
    headers = {**auth_headers, "If-Match": resource["etag"]}
    first = client.patch(resource["url"], json=resource["patch"], headers=headers)
    second = client.patch(resource["url"], json=resource["put"], headers=headers)
    assert (first.status_code, second.status_code) == (200, 412)


def test_the_write_itself_is_conditional(app, client, resource, auth_headers, monkeypatch):
    """A write that passed the If-Match check still loses to one that committed in between."""
    from content_service import row_versions
    from content_service.extensions import db

    original = row_versions.expected_version

    def racing_check(row):
        version = original(row)
        # Another worker commits a change right after our check, before our UPDATE.
        with db.engine.begin() as conn:
            table = row.__table__
            conn.execute(
                table.update().where(table.c.id == row.id).values(version=table.c.version + 1)
            )
        return version

    monkeypatch.setattr(row_versions, "expected_version", racing_check)
    headers = {**auth_headers, "If-Match": resource["etag"]}
    assert client.patch(resource["url"], json=resource["put"], headers=headers).status_code == 412
    assert client.delete(resource["url"], headers=headers).status_code == 412
    monkeypatch.undo()
    assert client.get(resource["url"]).status_code == 200


def test_profile_if_match_accepts_either_view(client, create_account, auth_headers):
    create_account(1, "alice")
    public = client.get("/api/users/1").headers["ETag"]
    response = client.patch(
        "/api/users/1", json={"bio": "x"}, headers={**auth_headers, "If-Match": public}
    )
    assert response.status_code == 200
    stale = client.patch(
        "/api/users/1", json={"bio": "y"}, headers={**auth_headers, "If-Match": public}
    )
    assert stale.status_code == 412
    assert client.get("/api/users/1").get_json()["bio"] == "x"
    assert (
        client.get(
            "/api/users/1", headers={"If-None-Match": client.get("/api/users/1").headers["ETag"]}
        ).status_code
        == 304
    )
