"""Request and response shapes, declared once for validation and for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.problems import ValidationProblem


class Strict(BaseModel):
    # Unknown and server-owned fields are refused, never silently dropped.
    model_config = ConfigDict(extra="forbid")


class ItemCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=10_000)
    price: float = Field(ge=0, allow_inf_nan=False)


class ItemUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=10_000)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class ItemPublic(BaseModel):
    id: int
    name: str
    description: str
    price: float
    owner_id: int
    created_at: datetime
    updated_at: datetime


def parse(schema: type[Strict], body: dict[str, Any]) -> Strict:
    """Validate a body against a schema, or raise 422 with one entry per bad field."""
    try:
        return schema.model_validate(body, strict=True)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": _message(err)}
            for err in exc.errors()
        ]
        raise ValidationProblem(errors) from exc


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown or read-only field"
    return str(err["msg"])
