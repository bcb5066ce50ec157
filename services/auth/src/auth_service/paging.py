"""Paging and sorting query arguments, with the contract's Link and 422 rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import request

from shared.problems import ValidationProblem


def page_arguments() -> tuple[int, int]:
    errors = []
    values = {}
    for name, default, low, high in (("page", 1, 1, None), ("per_page", 20, 1, 100)):
        raw = request.args.get(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < low or (high is not None and value > high):
            bound = f"{low} to {high}" if high else f"{low} or more"
            errors.append({"field": name, "message": f"must be an integer, {bound}"})
        values[name] = value
    if errors:
        raise ValidationProblem(errors)
    return values["page"], values["per_page"]


def sort_argument(columns: dict[str, Any], default: str) -> Any:
    raw = request.args.get("sort", default)
    name = raw.removeprefix("-")
    if name not in columns:
        raise ValidationProblem(
            [{"field": "sort", "message": "one of " + ", ".join(sorted(columns)) + " or -name"}]
        )
    column = columns[name]
    return column.desc() if raw.startswith("-") else column.asc()


def link_header(page: int, per_page: int, total: int) -> str:
    last = max(1, -(-total // per_page))
    pages = {"first": 1, "last": last}
    if page > 1:
        pages["prev"] = min(page - 1, last)
    if page < last:
        pages["next"] = page + 1
    links = []
    for rel, number in pages.items():
        query = {**request.args.to_dict(), "page": number, "per_page": per_page}
        links.append(f'<{request.path}?{urlencode(query)}>; rel="{rel}"')
    return ", ".join(links)
