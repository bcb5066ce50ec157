"""Your profile (account from auth, profile from content) and "download my data"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from gateway_service.console.forms import ProfileForm
from gateway_service.console.rendering import Page, page
from gateway_service.console.resources import show_errors
from gateway_service.console.session import require_viewer
from gateway_service.console.upstream import Unavailable, call
from shared.webui import protect_pages

bp = Blueprint("console_profile", __name__, template_folder="templates")
protect_pages(bp)

EXPORT_PAGE_SIZE = 100
# A bound on the export's walk through every item (content has no owner filter): 20,000.
EXPORT_MAX_PAGES = 200


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> Page | Response:
    principal = require_viewer()
    account = call("auth", "GET", "/auth/me").json()
    found = call("content", "GET", f"/api/users/{principal.id}")
    user = found.json() if found.status_code == 200 else None
    form = ProfileForm(request.form) if request.method == "POST" else ProfileForm(data=user or {})
    errors: list[str] = []
    if request.method == "POST":
        changes = {"display_name": form.display_name.data or "", "bio": form.bio.data or ""}
        response = call("content", "PATCH", f"/api/users/{principal.id}", json=changes)
        if response.status_code == 200:
            flash("Your profile is saved.", "success")
            return redirect(url_for("console_profile.profile"))
        form.validate()
        errors = show_errors(form, response)
    mine = call(
        "content",
        "GET",
        "/api/posts",
        params={"author": principal.username, "per_page": 5, "sort": "-created_at"},
    )
    return page(
        "console/profile.html",
        422 if errors else 200,
        account=account,
        user=user,
        form=form,
        errors=errors,
        posts=mine.json() if mine.status_code == 200 else [],
    )


@bp.get("/export")
def export() -> Response:
    """Everything the suite holds about you, as one JSON file to keep."""
    principal = require_viewer()
    found = call("content", "GET", f"/api/users/{principal.id}")
    document = {
        "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "account": call("auth", "GET", "/auth/me").json(),
        "profile": found.json() if found.status_code == 200 else None,
        "posts": _all("/api/posts", {"author": principal.username}),
        "items": [i for i in _all("/api/items", {}) if i.get("owner_id") == principal.id],
    }
    body = json.dumps(document, indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="my-data-{principal.username}.json"',
            "Cache-Control": "no-store",
        },
    )


def _all(path: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number in range(1, EXPORT_MAX_PAGES + 1):
        params = {**filters, "page": number, "per_page": EXPORT_PAGE_SIZE, "sort": "created_at"}
        response = call("content", "GET", path, params=params)
        if response.status_code != 200:
            raise Unavailable("content")
        batch = response.json()
        rows.extend(batch)
        if len(batch) < EXPORT_PAGE_SIZE:
            break
    return rows
