"""Request and response shapes, declared once: they validate bodies and make the OpenAPI document.

The hosted pages' forms and the bootstrap admin check the same fields with the same rules
(`field_problem`), so a name the API refuses is refused everywhere.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auth_service.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from shared import schemas as shared_schemas
from shared.schemas import Strict, omittable

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,80}")
USERNAME_RULE = "3 to 80 characters of A-Z a-z 0-9 _ . -"
# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not our job.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
MAX_EMAIL = 254
ROLE = r"^[a-z][a-z0-9_-]{0,39}$"
MAX_ROLES = 20
# Fields the server sets; a client sending one is told so, rather than "unknown".
SERVER_OWNED = frozenset({"id", "created_at"})
# Examples shown in the API document, not secrets of anything.
EXAMPLE_PASSWORD = "correct horse battery"  # noqa: S105  # nosec B105 - documentation example
EXAMPLE_NEW_PASSWORD = "another long passphrase"  # noqa: S105  # nosec B105 - doc example


def _documented(**schema: Any) -> Any:
    """Constraints shown in the document while a validator below gives the clearer message."""

    def extra(generated: dict[str, Any]) -> None:
        generated.update(schema)

    return extra


def _username(value: str) -> str:
    if not USERNAME.fullmatch(value):
        raise ValueError(USERNAME_RULE)
    return value


def _email(value: str) -> str:
    if len(value) > MAX_EMAIL or not EMAIL.fullmatch(value):
        raise ValueError("must be a valid email address")
    return value


def _new_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


USERNAME_FIELD = Field(
    json_schema_extra=_documented(pattern="^[A-Za-z0-9_.-]{3,80}$", minLength=3, maxLength=80),
    examples=["alice"],
)
EMAIL_FIELD = Field(
    json_schema_extra=_documented(format="email", maxLength=MAX_EMAIL),
    examples=["alice@example.com"],
)
PASSWORD_DOC = f"{MIN_LENGTH} to {MAX_LENGTH} characters, not among the 20,000 most common."


def _new_password_field() -> Any:
    return Field(
        description=PASSWORD_DOC,
        json_schema_extra=_documented(minLength=MIN_LENGTH, maxLength=MAX_LENGTH),
        examples=[EXAMPLE_PASSWORD],
    )


class Register(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "alice",
                    "email": "alice@example.com",
                    "password": EXAMPLE_PASSWORD,
                }
            ]
        },
    )
    username: str = USERNAME_FIELD
    email: str = EMAIL_FIELD
    password: str = _new_password_field()

    _check_username = field_validator("username")(_username)
    _check_email = field_validator("email")(_email)
    _check_password = field_validator("password")(_new_password)


class Login(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "alice", "password": EXAMPLE_PASSWORD}]},
    )
    username: str = Field(
        min_length=1,
        description="The username or the email address. Longer than any of them: refused "
        "like an unknown user.",
        json_schema_extra=_documented(maxLength=MAX_EMAIL),
        examples=["alice"],
    )
    password: str = Field(
        min_length=1,
        description=f"Longer than {MAX_LENGTH} characters: refused like a wrong password, "
        "before any hashing.",
        json_schema_extra=_documented(maxLength=MAX_LENGTH),
        examples=[EXAMPLE_PASSWORD],
    )


class PasswordChange(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "current_password": EXAMPLE_PASSWORD,
                    "new_password": EXAMPLE_NEW_PASSWORD,
                }
            ]
        },
    )
    current_password: str = Field(
        min_length=1,
        json_schema_extra=_documented(maxLength=MAX_LENGTH),
        examples=[EXAMPLE_PASSWORD],
    )
    new_password: str = _new_password_field()

    _check_password = field_validator("new_password")(_new_password)


class EmailChange(Strict):
    new_email: str = EMAIL_FIELD
    password: str = Field(
        min_length=1, json_schema_extra=_documented(maxLength=MAX_LENGTH), examples=["secret"]
    )

    _check_email = field_validator("new_email")(_email)


class AccountDeletion(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"password": EXAMPLE_PASSWORD}]},
    )
    password: str = Field(
        min_length=1,
        json_schema_extra=_documented(maxLength=MAX_LENGTH),
        examples=[EXAMPLE_PASSWORD],
    )


class SecondFactor(Strict):
    mfa_token: str = Field(min_length=1, max_length=4096, description="From POST /auth/login.")
    code: str = Field(
        min_length=1,
        max_length=40,
        description="The authenticator's 6 digits, or one recovery code.",
        examples=["123456"],
    )


class TotpCode(Strict):
    code: str = Field(min_length=1, max_length=40, examples=["123456"])


class TotpRemoval(Strict):
    password: str = Field(
        min_length=1, json_schema_extra=_documented(maxLength=MAX_LENGTH), examples=["secret"]
    )
    code: str = Field(
        min_length=1, max_length=40, description="6 digits or a recovery code.", examples=["123456"]
    )


class MailedToken(Strict):
    """The secret from a link we mailed (the `token` in its query string)."""

    token: str = Field(min_length=1, max_length=200, examples=["kq3...Zs"])


class PasswordForgotten(Strict):
    email: str = Field(min_length=1, max_length=MAX_EMAIL, examples=["alice@example.com"])


class PasswordReset(Strict):
    token: str = Field(min_length=1, max_length=200, examples=["kq3...Zs"])
    new_password: str = _new_password_field()

    _check_password = field_validator("new_password")(_new_password)


Role = Annotated[str, Field(pattern=ROLE, max_length=40)]


class AccountUpdate(Strict):
    """What an admin may change; a field left out stays as it is."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"roles": ["admin"]}]})
    roles: list[Role] = omittable("The whole set of roles.", max_length=MAX_ROLES)
    disabled: bool = omittable("A disabled account cannot log in; its tokens stop working.")


class AccountPublic(BaseModel):
    id: int = Field(ge=1)
    username: str = Field(max_length=80)
    email: str = Field(max_length=MAX_EMAIL)
    email_verified: bool = Field(
        description="Whether the address's owner followed the link we mailed there; "
        "content takes writes only from verified accounts."
    )
    totp_enabled: bool = Field(description="Whether login asks for a TOTP code too.")
    roles: list[str] = Field(max_length=MAX_ROLES)
    created_at: datetime


class AdminAccount(AccountPublic):
    disabled: bool


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(
        ge=1, le=366 * 86400, description="The access token's lifetime in seconds."
    )


class JsonWebKeySet(BaseModel):
    """RFC 7517: the public keys of every key that signed a still-valid token."""

    keys: list[dict[str, Any]] = Field(max_length=100)


def parse(schema: type[shared_schemas.T], body: dict[str, Any]) -> shared_schemas.T:
    """Validate a body against a schema, or raise 422 with one entry per bad field."""
    return shared_schemas.parse(schema, body, read_only=SERVER_OWNED)


def field_problem(schema: type[BaseModel], field: str, value: Any) -> str | None:
    """Why one field's value is refused by the schema's own rule, or None."""
    try:
        schema.__pydantic_validator__.validate_assignment(
            schema.model_construct(), field, value, strict=True
        )
    except ValidationError as exc:
        return shared_schemas.field_errors(exc)[0]["message"]
    return None
