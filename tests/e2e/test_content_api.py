"""Contract section 5 through the gateway over real processes: profiles, posts and items.

One stack of its own (module scope): it has a bootstrap admin, and its totals are not
disturbed by other modules' data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import RunningStack, verify_email

PROBLEM = "application/problem+json"
ADMIN = {"username": "chief", "password": "content admin passphrase"}


@pytest.fixture(scope="module")
def content_stack(tmp_path_factory) -> Iterator[RunningStack]:
    running = RunningStack(
        tmp_path_factory.mktemp("stack-content"),
        {
            "BOOTSTRAP_ADMIN_USERNAME": ADMIN["username"],
            "BOOTSTRAP_ADMIN_EMAIL": "chief@example.com",
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN["password"],
            # These tests send bursts on purpose; rate limiting has tests of its own.
            "RATE_LIMIT": "100000/minute",
            "RATE_LIMIT_ANONYMOUS": "100000/minute",
        },
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gw(content_stack: RunningStack) -> str:
    return content_stack.gateway


def login(gw: str, username: str, password: str) -> dict[str, str]:
    response = requests.post(
        f"{gw}/auth/login", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def admin(gw: str) -> dict[str, str]:
    return login(gw, ADMIN["username"], ADMIN["password"])


@pytest.fixture(scope="module")
def new_account(gw: str) -> Callable[[], dict]:
    def register() -> dict:
        name = "c" + uuid.uuid4().hex[:10]
        password = "content passphrase " + uuid.uuid4().hex[:4]
        account = requests.post(
            f"{gw}/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
            timeout=10,
        )
        assert account.status_code == 201, account.text
        verify_email(gw, f"{name}@example.com")
        return {**account.json(), "password": password, "headers": login(gw, name, password)}

    return register


def eventually(check: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_registering_makes_a_profile_with_a_private_email(gw, new_account):
    alice = new_account()
    url = f"{gw}/api/users/{alice['id']}"
    assert eventually(lambda: requests.get(url, timeout=5).status_code == 200), "no profile"
    public = requests.get(url, timeout=5).json()
    assert public == {
        "id": alice["id"],
        "username": alice["username"],
        "display_name": "",
        "bio": "",
        "created_at": public["created_at"],
    }
    own = requests.get(url, headers=alice["headers"], timeout=5).json()
    assert own["email"] == alice["email"]
    listed = requests.get(f"{gw}/api/users", params={"per_page": 100}, timeout=5)
    assert listed.status_code == 200
    assert all("email" not in u for u in listed.json())
    assert int(listed.headers["X-Total-Count"]) >= 1


def test_profile_edits_by_the_user_or_an_admin_only(gw, new_account, admin):
    alice, mallory = new_account(), new_account()
    url = f"{gw}/api/users/{alice['id']}"
    assert eventually(lambda: requests.get(url, timeout=5).status_code == 200)
    mine = requests.patch(
        url, json={"display_name": "Alice", "bio": "hi"}, headers=alice["headers"], timeout=5
    )
    assert mine.status_code == 200, mine.text
    assert (mine.json()["display_name"], mine.json()["bio"]) == ("Alice", "hi")
    theirs = requests.patch(url, json={"bio": "pwned"}, headers=mallory["headers"], timeout=5)
    assert theirs.status_code == 403
    assert theirs.headers["Content-Type"].startswith(PROBLEM)
    moderated = requests.patch(url, json={"bio": "moderated"}, headers=admin, timeout=5)
    assert moderated.status_code == 200
    assert moderated.json()["email"] == alice["email"]  # admins see it
    bad = requests.patch(
        url, json={"display_name": "x" * 101, "email": "e@x"}, headers=alice["headers"], timeout=5
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["display_name", "email"]
    assert requests.get(url, timeout=5).json()["bio"] == "moderated"


def test_posts_full_lifecycle(gw, new_account, admin):
    author, other = new_account(), new_account()
    created = requests.post(
        f"{gw}/api/posts",
        json={"title": "Hello gateway", "content": "first"},
        headers=author["headers"],
        timeout=5,
    )
    assert created.status_code == 201, created.text
    post = created.json()
    assert (post["author"], post["author_id"]) == (author["username"], author["id"])
    assert created.headers["Location"] == f"/api/posts/{post['id']}"
    url = f"{gw}{created.headers['Location']}"
    assert requests.get(url, timeout=5).json() == post

    for n in range(3):
        requests.post(
            f"{gw}/api/posts",
            json={"title": f"Zeta {n}", "content": "needle here"},
            headers=author["headers"],
            timeout=5,
        )
    by_author = requests.get(
        f"{gw}/api/posts",
        params={"author": author["username"], "sort": "title", "per_page": 2},
        timeout=5,
    )
    assert by_author.status_code == 200
    assert [p["title"] for p in by_author.json()] == ["Hello gateway", "Zeta 0"]
    assert by_author.headers["X-Total-Count"] == "4"
    assert 'rel="next"' in by_author.headers["Link"] and 'rel="last"' in by_author.headers["Link"]
    by_q = requests.get(
        f"{gw}/api/posts", params={"author": author["username"], "q": "NEEDLE"}, timeout=5
    )
    assert by_q.headers["X-Total-Count"] == "3"
    newest = requests.get(
        f"{gw}/api/posts", params={"author": author["username"], "sort": "-created_at"}, timeout=5
    )
    assert newest.json()[0]["title"] == "Zeta 2"

    patched = requests.patch(url, json={"title": "Edited"}, headers=author["headers"], timeout=5)
    assert (patched.status_code, patched.json()["title"], patched.json()["content"]) == (
        200,
        "Edited",
        "first",
    )
    replaced = requests.put(
        url, json={"title": "Replaced", "content": "new"}, headers=author["headers"], timeout=5
    )
    assert (replaced.status_code, replaced.json()["content"]) == (200, "new")
    assert (
        requests.patch(url, json={"title": "x"}, headers=other["headers"], timeout=5).status_code
        == 403
    )
    assert requests.delete(url, headers=other["headers"], timeout=5).status_code == 403
    assert requests.patch(url, json={"title": "x"}, timeout=5).status_code == 401
    assert (
        requests.patch(url, json={"title": "By admin"}, headers=admin, timeout=5).status_code == 200
    )
    assert requests.delete(url, headers=author["headers"], timeout=5).status_code == 204
    gone = requests.get(url, timeout=5)
    assert gone.status_code == 404
    assert gone.headers["Content-Type"].startswith(PROBLEM)


def test_items_full_lifecycle(gw, new_account, admin):
    owner, other = new_account(), new_account()
    tag = uuid.uuid4().hex[:8]
    urls = []
    for name, price in (("Lamp", 10), ("Chair", 20), ("Desk", 30.5)):
        created = requests.post(
            f"{gw}/api/items",
            json={"name": f"{name} {tag}", "price": price, "description": "oak"},
            headers=owner["headers"],
            timeout=5,
        )
        assert created.status_code == 201, created.text
        assert created.json()["owner_id"] == owner["id"]
        urls.append(f"{gw}{created.headers['Location']}")
    listed = requests.get(
        f"{gw}/api/items",
        params={"q": tag, "min_price": 10, "max_price": 20, "sort": "-price"},
        timeout=5,
    )
    assert [i["price"] for i in listed.json()] == [20, 10]
    assert listed.headers["X-Total-Count"] == "2"
    assert (
        requests.get(f"{gw}/api/items", params={"q": tag, "sort": "name"}, timeout=5)
        .json()[0]["name"]
        .startswith("Chair")
    )

    lamp = urls[0]
    assert (
        requests.patch(lamp, json={"price": 12}, headers=owner["headers"], timeout=5).json()[
            "price"
        ]
        == 12
    )
    put = requests.put(
        lamp, json={"name": "Lamp 2", "price": 1}, headers=owner["headers"], timeout=5
    )
    assert (put.status_code, put.json()["description"]) == (200, "")
    assert (
        requests.put(
            lamp, json={"name": "x", "price": 1}, headers=other["headers"], timeout=5
        ).status_code
        == 403
    )
    assert requests.delete(lamp, headers=other["headers"], timeout=5).status_code == 403
    assert requests.get(lamp, timeout=5).json()["name"] == "Lamp 2"
    assert requests.delete(lamp, headers=admin, timeout=5).status_code == 204
    assert requests.delete(urls[1], headers=owner["headers"], timeout=5).status_code == 204
    assert requests.get(lamp, timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/api/posts", {"title": "", "content": "c" * 100_001}, ["title", "content"]),
        (
            "/api/posts",
            {"title": "t", "content": "c", "author_id": 1, "id": 2},
            ["author_id", "id"],
        ),
        ("/api/items", {"name": "n", "price": -1, "owner_id": 1}, ["price", "owner_id"]),
        (
            "/api/items",
            {"name": "n", "price": 1, "created_at": "now", "colour": "red"},
            ["created_at", "colour"],
        ),
    ],
)
def test_invalid_bodies_are_422_with_one_entry_per_field(gw, new_account, path, body, fields):
    account = new_account()
    response = requests.post(f"{gw}{path}", json=body, headers=account["headers"], timeout=5)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == fields
    assert problem["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("query", ["page=0", "per_page=101", "sort=secret", "min_price=cheap"])
def test_bad_list_parameters_are_422(gw, query):
    response = requests.get(f"{gw}/api/items?{query}", timeout=5)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith(PROBLEM)


def test_etags_304_and_stale_if_match_412(gw, new_account):
    account = new_account()
    created = requests.post(
        f"{gw}/api/posts",
        json={"title": "v1", "content": "c"},
        headers=account["headers"],
        timeout=5,
    )
    url, etag = f"{gw}{created.headers['Location']}", created.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
    fresh = requests.patch(
        url, json={"title": "v2"}, headers={**account["headers"], "If-Match": etag}, timeout=5
    )
    assert fresh.status_code == 200
    stale = {**account["headers"], "If-Match": etag}
    assert requests.patch(url, json={"title": "v3"}, headers=stale, timeout=5).status_code == 412
    assert (
        requests.put(
            url, json={"title": "v3", "content": "c"}, headers=stale, timeout=5
        ).status_code
        == 412
    )
    response = requests.delete(url, headers=stale, timeout=5)
    assert response.status_code == 412
    assert response.headers["Content-Type"].startswith(PROBLEM)
    current = requests.get(url, timeout=5)
    assert current.json()["title"] == "v2"
    assert current.headers["ETag"] == fresh.headers["ETag"]


def test_idempotency_key_replays_and_refuses_another_body(gw, new_account):
    account = new_account()
    headers = {**account["headers"], "Idempotency-Key": uuid.uuid4().hex}
    body = {"name": "Once", "price": 5}
    first = requests.post(f"{gw}/api/items", json=body, headers=headers, timeout=5)
    again = requests.post(f"{gw}/api/items", json=body, headers=headers, timeout=5)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    other = requests.post(f"{gw}/api/items", json={**body, "price": 6}, headers=headers, timeout=5)
    assert other.status_code == 422
    mine = requests.get(f"{gw}/api/items", params={"q": "Once", "per_page": 100}, timeout=5).json()
    assert [i["id"] for i in mine if i["owner_id"] == account["id"]] == [first.json()["id"]]


def test_concurrent_writes_never_hit_database_is_locked(content_stack, gw, new_account):
    account = new_account()

    def create(n: int) -> int:
        body = {"title": f"burst {n}", "content": "x" * 500}
        return requests.post(
            f"{gw}/api/posts", json=body, headers=account["headers"], timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(create, range(60)))
    assert statuses == [201] * 60
    listed = requests.get(f"{gw}/api/posts", params={"author": account["username"]}, timeout=5)
    assert listed.headers["X-Total-Count"] == "60"
    assert "database is locked" not in content_stack.log("content")


def test_deleting_the_account_removes_profile_posts_and_items(gw, new_account):
    account = new_account()
    headers = account["headers"]
    post = requests.post(
        f"{gw}/api/posts", json={"title": "bye", "content": "c"}, headers=headers, timeout=5
    )
    item = requests.post(
        f"{gw}/api/items", json={"name": "bye", "price": 1}, headers=headers, timeout=5
    )
    profile = f"{gw}/api/users/{account['id']}"
    assert eventually(lambda: requests.get(profile, timeout=5).status_code == 200)
    deleted = requests.delete(
        f"{gw}/auth/me", json={"password": account["password"]}, headers=headers, timeout=5
    )
    assert deleted.status_code == 204
    for url in (profile, f"{gw}{post.headers['Location']}", f"{gw}{item.headers['Location']}"):
        assert eventually(lambda url=url: requests.get(url, timeout=5).status_code == 404), url


def test_content_serves_its_openapi_document_at_its_root(content_stack):
    document = requests.get(f"{content_stack.url('content')}/openapi.json", timeout=5).json()
    assert document["openapi"].startswith("3.1")
    assert {
        "/api/users",
        "/api/users/{id}",
        "/api/posts",
        "/api/posts/{id}",
        "/api/items",
        "/api/items/{id}",
    } <= set(document["paths"])
