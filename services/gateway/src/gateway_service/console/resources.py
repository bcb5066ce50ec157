"""Browse, read, create, edit and delete posts and items: one set of views for both kinds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response
from wtforms import Form

from gateway_service.console.forms import ItemForm, PostForm
from gateway_service.console.rendering import Page, message, page
from gateway_service.console.session import require_viewer, viewer
from gateway_service.console.upstream import call, detail, field_errors
from shared.tokens import Principal
from shared.webui import protect_pages

PER_PAGE = 10


@dataclass(frozen=True)
class Kind:
    name: str  # "post"
    plural: str  # "posts"
    api: str  # the content collection
    form: type[Form]
    fields: tuple[str, ...]  # what the form sends
    owner_field: str  # who may change one
    label_field: str  # what names one in lists and messages


POSTS = Kind("post", "posts", "/api/posts", PostForm, ("title", "content"), "author_id", "title")
ITEMS = Kind(
    "item", "items", "/api/items", ItemForm, ("name", "description", "price"), "owner_id", "name"
)


def may_change(principal: Principal | None, resource: dict[str, Any], kind: Kind) -> bool:
    if principal is None:
        return False
    return resource.get(kind.owner_field) == principal.id or principal.is_admin


def crud_blueprint(kind: Kind) -> Blueprint:
    bp = Blueprint(f"console_{kind.plural}", __name__, template_folder="templates")
    protect_pages(bp)
    endpoint = f"console_{kind.plural}"

    @bp.get("/")
    def browse() -> Page:
        q = request.args.get("q", "").strip()
        number = max(request.args.get("page", 1, type=int) or 1, 1)
        params: dict[str, Any] = {"page": number, "per_page": PER_PAGE, "sort": "-created_at"}
        if q:
            params["q"] = q
        if kind is POSTS and request.args.get("author"):
            params["author"] = request.args["author"]
        response = call("content", "GET", kind.api, params=params)
        if response.status_code != 200:
            return message("Cannot list", detail(response) or "That search failed.", 400)
        total = int(response.headers.get("X-Total-Count", "0") or 0)
        return page(
            f"console/{kind.plural}.html",
            kind=kind,
            rows=response.json(),
            q=q,
            page_number=number,
            pages=max(math.ceil(total / PER_PAGE), 1),
            total=total,
        )

    @bp.get("/<int:resource_id>")
    def read(resource_id: int) -> Page:
        resource = _fetch(kind, resource_id)
        if resource is None:
            return message("Not found", f"There is no {kind.name} {resource_id}.", 404)
        return page(
            f"console/{kind.name}.html",
            kind=kind,
            resource=resource,
            may_change=may_change(viewer(), resource, kind),
        )

    @bp.route("/new", methods=["GET", "POST"])
    def create() -> Page | Response:
        require_viewer()
        form = kind.form(request.form)
        errors: list[str] = []
        if request.method == "POST" and form.validate():
            response = call("content", "POST", kind.api, json=_body(form, kind))
            if response.status_code == 201:
                created = response.json()
                flash(f"Your {kind.name} “{created[kind.label_field]}” is published.", "success")
                return redirect(url_for(f"{endpoint}.read", resource_id=created["id"]))
            errors = show_errors(form, response)
        status = 422 if request.method == "POST" else 200
        return page("console/form.html", status, kind=kind, form=form, errors=errors, resource=None)

    @bp.route("/<int:resource_id>/edit", methods=["GET", "POST"])
    def edit(resource_id: int) -> Page | Response:
        principal = require_viewer()
        resource = _fetch(kind, resource_id)
        if resource is None:
            return message("Not found", f"There is no {kind.name} {resource_id}.", 404)
        if not may_change(principal, resource, kind):
            return message("Not yours", f"Only its owner may change this {kind.name}.", 403)
        errors: list[str] = []
        if request.method == "GET":
            form = kind.form(data=resource)
            return page("console/form.html", kind=kind, form=form, errors=errors, resource=resource)
        form = kind.form(request.form)
        if form.validate():
            # If-Match: a change saved by someone else meanwhile is not silently overwritten.
            etag = request.form.get("etag", "")
            response = call(
                "content",
                "PATCH",
                f"{kind.api}/{resource_id}",
                json=_body(form, kind),
                headers={"If-Match": etag} if etag else None,
            )
            if response.status_code == 200:
                flash(f"Your {kind.name} is saved.", "success")
                return redirect(url_for(f"{endpoint}.read", resource_id=resource_id))
            if response.status_code == 412:
                errors = [f"This {kind.name} was changed meanwhile; check it and save again."]
            else:
                errors = show_errors(form, response)
        return page(
            "console/form.html", 422, kind=kind, form=form, errors=errors, resource=resource
        )

    @bp.post("/<int:resource_id>/delete")
    def delete(resource_id: int) -> Page | Response:
        require_viewer()
        response = call("content", "DELETE", f"{kind.api}/{resource_id}")
        if response.status_code == 204:
            flash(f"The {kind.name} is deleted.", "success")
            return redirect(url_for(f"{endpoint}.browse"))
        if response.status_code == 404:
            return message("Not found", f"There is no {kind.name} {resource_id}.", 404)
        return message("Not deleted", detail(response) or "You may not delete this.", 403)

    return bp


def _fetch(kind: Kind, resource_id: int) -> dict[str, Any] | None:
    response = call("content", "GET", f"{kind.api}/{resource_id}")
    if response.status_code != 200:
        return None
    resource = response.json()
    resource["etag"] = response.headers.get("ETag", "")
    return resource


def _body(form: Form, kind: Kind) -> dict[str, Any]:
    body = {}
    for name in kind.fields:
        value = form[name].data
        body[name] = float(value) if isinstance(value, Decimal) else (value or "")
    return body


def show_errors(form: Form, response: Any) -> list[str]:
    """Content's field errors beside the fields; anything else above the form."""
    general = []
    for error in field_errors(response):
        name = error.get("field", "")
        if name in form:
            form[name].errors = [*form[name].errors, error.get("message", "is not valid")]
        else:
            general.append(f"{name}: {error.get('message')}" if name else str(error.get("message")))
    if not general and not field_errors(response):
        general.append(detail(response) or f"The content service answered {response.status_code}.")
    return general


posts = crud_blueprint(POSTS)
items = crud_blueprint(ITEMS)
