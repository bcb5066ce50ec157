"""Content keeps no cookie session (callers present bearer tokens or the access cookie,
read by shared.auth), so Flask's is never opened: opening it built a signing serializer
on every request for nothing."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface


class NoSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then hands views its null session, which refuses writes
