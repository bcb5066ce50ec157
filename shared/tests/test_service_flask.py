"""ServiceFlask: each callable's sync-or-async answer worked out once, views served alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from shared.service import ServiceFlask


class UnhashableHook:
    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_each_callable_is_inspected_once_however_many_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = ServiceFlask(__name__)
    inspected: list[object] = []
    flasks_own = Flask.ensure_sync

    def counting(self: Flask, func: Callable[..., Any]) -> Callable[..., Any]:
        inspected.append(func)
        return flasks_own(self, func)

    monkeypatch.setattr(Flask, "ensure_sync", counting)

    @app.before_request
    def before() -> None:
        return None

    @app.get("/")
    def index() -> str:
        return "ok"

    client = app.test_client()
    for _ in range(3):
        assert client.get("/").get_data(as_text=True) == "ok"
    assert inspected.count(index) == 1
    assert inspected.count(before) == 1


def test_an_unhashable_hook_still_runs_on_every_request() -> None:
    app = ServiceFlask(__name__)
    hook = UnhashableHook()
    app.before_request(hook)
    app.add_url_rule("/", "index", lambda: "ok")
    client = app.test_client()
    for _ in range(2):
        assert client.get("/").status_code == 200
    assert hook.calls == 2


def test_answers_are_the_same_as_flasks() -> None:
    plain, ours = Flask(__name__), ServiceFlask(__name__)
    for app in (plain, ours):
        app.add_url_rule("/items/<int:n>", "item", lambda n: {"n": n})
    assert (
        plain.test_client().get("/items/3").get_json()
        == ours.test_client().get("/items/3").get_json()
        == {"n": 3}
    )
