"""Helpers for the services' pydantic schemas: strict request bodies, 422 entries, problems.

Each service declares its own request and response shapes beside its views; these are the
rules every one of them follows, so a body is refused the same way in auth and in content.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.problems import MAX_FIELD_ERRORS, ValidationProblem

T = TypeVar("T", bound=BaseModel)
NOT_BLANK = r"\S"  # at least one character that is not white space


def without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(description: str | None = None, **constraints: Any) -> Any:
    """A field that may be left out but is never null: absent means "leave as is" in a PATCH,
    while an explicit null fails validation (pydantic does not validate defaults)."""
    constraints.setdefault("json_schema_extra", without_default)
    return Field(default=None, description=description, **constraints)


class Strict(BaseModel):
    # Unknown and server-owned fields are refused, never silently dropped.
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # JSON can carry U+0000 but PostgreSQL text cannot store it: refused here, not a 500.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain the NUL character")
        return value


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem document, the shape of every error."""

    type: str = Field(description="A URI naming the kind of problem, or about:blank.")
    title: str
    status: int = Field(ge=100, le=599)
    detail: str
    instance: str = Field(description="The path of the request that failed.")
    request_id: str | None
    errors: list[FieldError] = omittable(
        description="Only on 422: one per bad field, the first 100 of them.",
        max_length=MAX_FIELD_ERRORS,
    )


def public(schema: type[BaseModel], fields: dict[str, Any], **dump: Any) -> dict[str, Any]:
    """A response body, shaped and serialized by its public schema."""
    return schema.model_validate(fields).model_dump(mode="json", **dump)


def parse(
    schema: type[T],
    body: dict[str, Any],
    *,
    strict: bool = True,
    read_only: Collection[str] = (),
) -> T:
    """Validate a body against a schema, or raise 422 with one entry per bad field.

    `read_only` names fields the server sets: a client sending one is told so.
    """
    try:
        return schema.model_validate(body, strict=strict)
    except ValidationError as exc:
        raise ValidationProblem(field_errors(exc, read_only)) from exc


def field_errors(exc: ValidationError, read_only: Collection[str] = ()) -> list[dict[str, str]]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        errors.setdefault(field, _message(field, err, read_only))
    return [{"field": field, "message": message} for field, message in errors.items()]


def _message(field: str, err: Any, read_only: Collection[str]) -> str:
    if err["type"] == "extra_forbidden":
        if field in read_only:
            return "read-only field, set by the server"
        return "unknown field"
    if err["type"] == "string_pattern_mismatch" and err["ctx"]["pattern"] == NOT_BLANK:
        return "must not be blank"
    return str(err["msg"]).removeprefix("Value error, ")
