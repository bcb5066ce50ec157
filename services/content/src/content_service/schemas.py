"""Request and response shapes, declared once: they validate bodies and make the OpenAPI document.

Create schemas are what POST and PUT take, Update schemas what PATCH takes (every field
optional, none nullable), Public schemas what clients get back.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import schemas as shared_schemas
from shared.schemas import NOT_BLANK, Strict, omittable, without_default

T = TypeVar("T", bound=BaseModel)

# Fields the server sets; a client sending one is told so, rather than "unknown".
SERVER_OWNED = frozenset(
    {"id", "author", "author_id", "owner_id", "username", "email", "created_at", "updated_at"}
)
MAX_PRICE = 9_999_999_999.99


class UserUpdate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"minProperties": 1, "examples": [{"display_name": "Alice"}]}
    )
    display_name: str = omittable(max_length=100)
    bio: str = omittable(max_length=2_000)


class UserPublic(BaseModel):
    id: int = Field(description="The auth account's id.")
    username: str
    display_name: str
    bio: str
    created_at: datetime
    email: str | None = omittable(
        "Present only for the user and for admins; null until auth has sent the account."
    )


class PostCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Hello", "content": "The first post."}]}
    )
    title: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    content: str = Field(min_length=1, max_length=100_000)


class PostUpdate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"minProperties": 1, "examples": [{"title": "Hello again"}]}
    )
    title: str = omittable(min_length=1, max_length=200, pattern=NOT_BLANK)
    content: str = omittable(min_length=1, max_length=100_000)


class PostPublic(BaseModel):
    id: int
    title: str
    content: str
    author: str = Field(description="The author's username.")
    author_id: int
    created_at: datetime
    updated_at: datetime


def _cents(value: float | None) -> float | None:
    if value is None:
        return value
    cents = value * 100
    # The tolerance is float noise (a few units in the last place), far below a cent.
    if not math.isclose(cents, round(cents), rel_tol=1e-14, abs_tol=1e-9):
        raise ValueError("at most two decimal places")
    return round(cents) / 100


def _in_cents(schema: dict[str, Any]) -> None:
    """Documented only: pydantic's own multiple_of check is exact, too strict for floats."""
    without_default(schema)
    schema["multipleOf"] = 0.01


PRICE_DOC = "0 or more, at most two decimal places."


class ItemCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Lamp", "description": "Brass", "price": 25}]}
    )
    name: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK)
    description: str = Field(default="", max_length=10_000)
    price: float = Field(
        ge=0, le=MAX_PRICE, allow_inf_nan=False, description=PRICE_DOC, json_schema_extra=_in_cents
    )

    _price_in_cents = field_validator("price")(_cents)


class ItemUpdate(Strict):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "examples": [{"price": 30}]})
    name: str = omittable(min_length=1, max_length=100, pattern=NOT_BLANK)
    description: str = omittable(max_length=10_000)
    price: float = omittable(
        PRICE_DOC, ge=0, le=MAX_PRICE, allow_inf_nan=False, json_schema_extra=_in_cents
    )

    _price_in_cents = field_validator("price")(_cents)


class ItemPublic(BaseModel):
    id: int
    name: str
    description: str
    price: float
    owner_id: int
    created_at: datetime
    updated_at: datetime


class AccountData(BaseModel):
    account_id: int = Field(ge=1)
    username: str = omittable(min_length=1, max_length=80)
    email: str = omittable(max_length=320)
    roles: list[str] = Field(default_factory=list)


class AccountEvent(BaseModel):
    """What auth posts to /internal/events; fields content does not use are ignored."""

    id: str = Field(min_length=1, max_length=64)
    type: Literal["account.created", "account.updated", "account.deleted"]
    occurred_at: datetime
    data: AccountData


def parse(schema: type[T], body: dict[str, Any], *, strict: bool = True) -> T:
    """Validate a body against a schema, or raise 422 with one entry per bad field."""
    return shared_schemas.parse(schema, body, strict=strict, read_only=SERVER_OWNED)
