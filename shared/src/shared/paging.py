"""Page and sort parameters, and the X-Total-Count and Link headers of a list answer."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import request

from shared.problems import ValidationProblem

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
# Past this page number OFFSET alone would be the cost; no real client pages that far.
MAX_PAGE = 100_000


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int
    sort_field: str
    descending: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_request(sortable: tuple[str, ...], default_sort: str = "-created_at") -> PageRequest:
    errors: list[dict[str, str]] = []
    page = _positive_int("page", 1, MAX_PAGE, errors)
    per_page = _positive_int("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE, errors)
    sort = request.args.get("sort", default_sort)
    field = sort.removeprefix("-")
    if field not in sortable:
        errors.append({"field": "sort", "message": f"one of {', '.join(sortable)}, or -field"})
    if errors:
        raise ValidationProblem(errors, "Invalid paging or sorting parameters.")
    assert page is not None and per_page is not None  # type narrowing only  # nosec B101
    return PageRequest(page, per_page, field, sort.startswith("-"))


def _positive_int(
    name: str, default: int, maximum: int, errors: list[dict[str, str]]
) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        errors.append({"field": name, "message": f"must be an integer from 1 to {maximum}"})
        return None
    return int(raw)


def paging_headers(paging: PageRequest, total: int) -> dict[str, str]:
    last = max(1, -(-total // paging.per_page))
    links = {"first": 1, "last": last}
    if paging.page > 1:
        links["prev"] = min(paging.page - 1, last)
    if paging.page < last:
        links["next"] = paging.page + 1
    return {
        "X-Total-Count": str(total),
        "Link": ", ".join(f'<{_page_url(page)}>; rel="{rel}"' for rel, page in links.items()),
    }


def _page_url(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = str(page)
    return f"{request.path}?{urlencode(args)}"
