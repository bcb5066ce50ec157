"""Rendering console pages: the viewer and CSRF value in every template, message pages."""

from __future__ import annotations

from typing import Any

from flask import render_template

from gateway_service.console.session import Refused, template_context
from gateway_service.console.upstream import Unavailable

Page = tuple[str, int]


def page(template: str, status: int = 200, **context: Any) -> Page:
    return render_template(template, **template_context(), **context), status


def message(title: str, text: str, status: int) -> Page:
    return page("console/message.html", status, title=title, text=text)


def unavailable(exc: Unavailable) -> Page:
    return message(
        "Temporarily unavailable",
        f"The {exc.service} service is not answering right now. Please try again shortly.",
        503,
    )


def refused(exc: Refused) -> Page:
    return message(
        "Refused",
        "This form was not sent from this site (its CSRF token is missing or wrong), "
        "so nothing was changed. Go back, reload the page and try again.",
        403,
    )
