"""HTTP rules every answer of every service keeps, whatever view made it (RFC 9110, 9111).

- An answer about the caller (a verified token, or the access cookie sent) is `no-store`:
  no browser history, proxy or CDN keeps it for the next person.
- An answer whose content a view chose by the access cookie says `Vary: Cookie`, so a cache
  never hands the signed-out version to a signed-in browser or the other way round.
- 204 and 304 have no body, so they carry no Content-Type or Content-Length.
- No redirect is ever built from the Host header: werkzeug's slash-merging and
  trailing-slash redirects (absolute URLs made from Host) are off, so `//x` is a 404.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from shared.cookie_auth import ACCESS_COOKIE

BODILESS = (204, 304)


def init_http_semantics(app: Flask, relays: bool = False) -> None:
    """Call before any blueprint is registered: the URL map's rules take its settings.

    `relays`: the app passes other services' answers on (the gateway), and its edge alone
    decides which headers a relayed 204 or 304 keeps, the same on every path it has.
    """
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.after_request(_personal)
    if not relays:
        app.after_request(_bodiless)


def mark_personal() -> None:
    """The current answer is about the caller (shared.auth calls this for a verified token)."""
    g.personal_answer = True


def _personal(response: Response) -> Response:
    read_cookie = bool(g.get("read_access_cookie"))
    personal = g.get("personal_answer") or (read_cookie and ACCESS_COOKIE in request.cookies)
    if personal and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    if personal or read_cookie:
        response.vary.add("Cookie")
    return response


def _bodiless(response: Response) -> Response:
    if response.status_code in BODILESS:
        response.headers.remove("Content-Type")
        response.headers.remove("Content-Length")
    return response
