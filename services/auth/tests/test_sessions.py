"""Login sessions: refresh rotation, reuse detection, concurrent refreshes and logout."""

from __future__ import annotations

import threading

import jwt
from conftest import bearer

from auth_service.extensions import db
from auth_service.models import LoginSession


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def refresh(client, token: str):
    return client.post("/auth/refresh", headers=bearer(token))


def test_login_starts_a_session_whose_current_token_is_the_refresh_token(app, register, login):
    register()
    pair = login()
    refresh_claims = claims_of(pair["refresh_token"])
    assert claims_of(pair["access_token"])["sid"] == refresh_claims["sid"]
    with app.app_context():
        session = db.session.get(LoginSession, refresh_claims["sid"])
        assert session.current_jti == refresh_claims["jti"]
        assert session.revoked_at is None


def test_refresh_rotates_and_the_old_token_stops_working(client, register, login):
    register()
    first = login()
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert claims_of(second["refresh_token"])["sid"] == claims_of(first["refresh_token"])["sid"]
    assert client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200
    assert refresh(client, second["refresh_token"]).status_code == 200


def test_access_token_cannot_refresh(client, register, login):
    register()
    response = refresh(client, login()["access_token"])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_reusing_a_retired_refresh_token_revokes_the_whole_session(
    app, client, register, login, redis_server
):
    app.config["REFRESH_REUSE_GRACE_SECONDS"] = 0  # every reuse counts, no grace
    register()
    stolen = login()
    sid = claims_of(stolen["refresh_token"])["sid"]
    legitimate = refresh(client, stolen["refresh_token"]).get_json()

    assert refresh(client, stolen["refresh_token"]).status_code == 401  # the thief tries
    # Everything of that session is dead now, the legitimate user's newest tokens too.
    assert refresh(client, legitimate["refresh_token"]).status_code == 401
    assert client.get("/auth/me", headers=bearer(legitimate["access_token"])).status_code == 401
    assert redis_server.get(f"revoked:sid:{sid}") is not None
    with app.app_context():
        assert db.session.get(LoginSession, sid).revoked_at is not None


def test_the_just_rotated_token_within_the_grace_gets_401_but_spares_the_session(
    app, client, register, login
):
    app.config["REFRESH_REUSE_GRACE_SECONDS"] = 60
    register()
    first = login()
    second = refresh(client, first["refresh_token"]).get_json()
    assert refresh(client, first["refresh_token"]).status_code == 401
    assert refresh(client, second["refresh_token"]).status_code == 200


def test_concurrent_refreshes_of_one_token_leave_exactly_one_live_session(
    app, register, login, client
):
    app.config["REFRESH_REUSE_GRACE_SECONDS"] = 60
    register()
    token = login()["refresh_token"]
    start = threading.Barrier(6)
    results: list = []

    def race() -> None:
        own_client = app.test_client()
        start.wait()
        response = refresh(own_client, token)
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [body for status, body in results if status == 200]
    assert len(winners) == 1, [status for status, _ in results]
    assert sorted(status for status, _ in results) == [200] + [401] * 5
    # The one winner's session lives on.
    assert refresh(client, winners[0]["refresh_token"]).status_code == 200
    with app.app_context():
        assert db.session.query(LoginSession).filter_by(revoked_at=None).count() == 1


def test_logout_kills_the_access_token_and_the_session(client, register, login, redis_server):
    register()
    pair = login()
    other = login()  # another device stays signed in
    response = client.post("/auth/logout", headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(client, pair["refresh_token"]).status_code == 401
    jti = claims_of(pair["access_token"])["jti"]
    assert 0 < redis_server.ttl(f"revoked:jti:{jti}") <= 15 * 60 + 10
    assert client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200
    assert client.post("/auth/logout").status_code == 401
