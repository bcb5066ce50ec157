"""Only accounts with a verified e-mail address write: auth's `email_verified` claim decides."""

from __future__ import annotations

import jwt
import pytest

UNVERIFIED_CLAIMS = [
    {"email_verified": False},
    {"email_verified": None},
    {"email_verified": "true"},
]


@pytest.mark.parametrize("claims", UNVERIFIED_CLAIMS)
@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/items", {"name": "Lamp", "price": 1}), ("/api/posts", {"title": "t", "content": "c"})],
)
def test_an_unverified_account_creates_nothing(client, tokens, path, body, claims):
    headers = tokens.bearer(7, "newbie", **claims)
    refused = client.post(path, json=body, headers={**headers, "Idempotency-Key": "k1"})
    assert refused.status_code == 403
    assert "Verify your e-mail" in refused.get_json()["detail"]
    assert client.get(path).headers["X-Total-Count"] == "0"  # nothing was written


def test_a_token_without_the_claim_counts_as_unverified(client, tokens):
    claims = tokens.claims(7, "newbie")
    del claims["email_verified"]
    token = jwt.encode(claims, tokens.private_key, algorithm="RS256", headers={"kid": tokens.kid})
    response = client.post(
        "/api/items",
        json={"name": "Lamp", "price": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


def test_an_unverified_account_changes_nothing_it_owns(client, tokens):
    verified = tokens.bearer(7, "newbie")
    item = client.post("/api/items", json={"name": "Lamp", "price": 1}, headers=verified).get_json()
    unverified = tokens.bearer(7, "newbie", email_verified=False)
    url = f"/api/items/{item['id']}"
    assert client.patch(url, json={"price": 0}, headers=unverified).status_code == 403
    assert client.delete(url, headers=unverified).status_code == 403
    assert client.patch("/api/users/7", json={"bio": "x"}, headers=unverified).status_code == 403
    assert client.get(url).get_json()["price"] == 1
