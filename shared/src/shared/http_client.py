"""Calling another service: pooled keep-alive connections, timeouts, the request id passed on."""

from __future__ import annotations

import threading
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from shared.request_id import HEADER as REQUEST_ID_HEADER
from shared.request_id import current_request_id


class ServiceClient:
    """A requests session per thread (sessions are not thread-safe), one pool per upstream."""

    def __init__(
        self,
        base_url: str,
        connect_timeout: float = 1.0,
        read_timeout: float = 10.0,
        pool_size: int = 32,
        default_headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.pool_size = pool_size
        self.default_headers = dict(default_headers or {})
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Retries are the caller's decision (only idempotent methods may repeat).
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False
            # One client speaks for many users: a cookie one answer sets must never ride
            # along on the next user's request, so the session keeps none.
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            self._local.session = session
        return session

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.default_headers, **(kwargs.pop("headers", None) or {})}
        request_id = _request_id_or_none()
        if request_id and REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = request_id
        kwargs.setdefault("timeout", self.timeout)
        return self.session.request(method, self.base_url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


def _request_id_or_none() -> str | None:
    from flask import has_app_context

    return current_request_id() if has_app_context() else None
