"""The console's front page: the latest posts and items."""

from __future__ import annotations

from flask import Blueprint

from gateway_service.console.rendering import Page, page
from gateway_service.console.upstream import call
from shared.webui import protect_pages

bp = Blueprint("console_pages", __name__, template_folder="templates")
protect_pages(bp)

LATEST = {"page": 1, "per_page": 5, "sort": "-created_at"}


@bp.get("/")
def home() -> Page:
    posts = call("content", "GET", "/api/posts", params=LATEST)
    items = call("content", "GET", "/api/items", params=LATEST)
    return page(
        "console/home.html",
        posts=posts.json() if posts.status_code == 200 else [],
        items=items.json() if items.status_code == 200 else [],
    )
