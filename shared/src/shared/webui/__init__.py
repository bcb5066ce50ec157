"""The look every server-rendered page shares: one layout, form macros and one stylesheet.

Auth's hosted pages and the gateway's console each register this blueprint under their
own prefix, so each serves the stylesheet itself (no CDN, no other service needed).
"""

from __future__ import annotations

from flask import Blueprint


def ui_blueprint() -> Blueprint:
    return Blueprint("suite_ui", __name__, template_folder="templates", static_folder="static")
