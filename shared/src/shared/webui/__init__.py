"""The look every server-rendered page shares: one layout, form macros and one stylesheet.

Auth's hosted pages and the gateway's console each register this blueprint under their
own prefix, so each serves the stylesheet itself (no CDN, no other service needed).
"""

from __future__ import annotations

from flask import Blueprint
from werkzeug.wrappers import Response

# The pages use only their own stylesheet and no script; no other site may frame them
# (clickjacking) or be the target of their forms.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def ui_blueprint() -> Blueprint:
    return Blueprint("suite_ui", __name__, template_folder="templates", static_folder="static")


def protect_pages(bp: Blueprint) -> None:
    """Send the page headers with every answer of a blueprint that renders HTML."""

    @bp.after_request
    def page_headers(response: Response) -> Response:
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
