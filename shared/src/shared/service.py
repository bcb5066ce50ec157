"""Wiring every service gets: logging, request ids, HTTP rules, problem+json errors, metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from shared.http_semantics import init_http_semantics
from shared.ids import init_id_converter
from shared.logs import configure_logging
from shared.metrics import init_metrics
from shared.problems import init_problem_handlers
from shared.redis_store import init_redis
from shared.request_id import init_request_id


class ServiceFlask(Flask):
    """Flask, with each view's and hook's sync-or-async answer worked out once.

    Flask asks `inspect.iscoroutinefunction` of the view and of every request hook on every
    request (ten times for one of content's item reads, about 5% of its time in the app),
    and the answer never changes. `ensure_sync` is Flask's documented hook for this.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_callables: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync_callables[func]
        except KeyError:
            sync = self._sync_callables[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)


def init_service(app: Flask, relays: bool = False) -> None:
    config = app.config
    configure_logging(config["SERVICE_NAME"], config["LOG_LEVEL"], config["LOG_FORMAT"])
    init_id_converter(app)
    init_http_semantics(app, relays)
    init_request_id(app)
    init_metrics(app)
    init_problem_handlers(app)
    init_redis(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Each service signs its session cookie with its own key, derived from SECRET_KEY with
    # the service's name: one service's cookie is worthless to another even when a
    # deployment gives them the same SECRET_KEY.
    app.session_interface = ServiceSessions(config["SERVICE_NAME"])


class ServiceSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with a salt (so a derived key) of the service's own."""

    def __init__(self, service: str) -> None:
        self.salt = f"{service}-session"
