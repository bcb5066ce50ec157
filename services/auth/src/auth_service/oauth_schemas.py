"""The OAuth endpoints' shapes: client registration (JSON) and the standard documents.

Registration validates requests; the rest describe the RFC documents in auth's OpenAPI
document (the token endpoint takes forms, which authlib parses by the RFCs' rules).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auth_service.scopes import USER_SCOPES
from shared.schemas import NOT_BLANK, Strict

GrantType = Literal["authorization_code", "refresh_token", "client_credentials", "password"]
GRANT_TYPES: tuple[str, ...] = GrantType.__args__  # type: ignore[attr-defined]
DEFAULT_GRANT_TYPES: list[GrantType] = ["authorization_code", "refresh_token"]
DEFAULT_SCOPE = "openid profile email items:write posts:write"
MAX_REDIRECT_URIS = 10
# The admin listing answers at most this many clients, oldest first (no paging: a suite
# registers a handful).
MAX_CLIENTS = 1000


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI cannot be registered (exact comparison needs it absolute)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "not a URI"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if not parts.hostname:
        return "must be absolute"
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return None
    return "must be https (or http on a loopback address, RFC 8252 7.3)"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClientRegistration(Strict):
    """A new OAuth client. Public: no secret, PKCE required; otherwise a secret shown once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "My app", "public": True, "redirect_uris": ["http://127.0.0.1:5173/cb"]}
            ]
        }
    )
    name: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK)
    public: bool = False
    redirect_uris: list[str] = Field(
        default_factory=list,
        max_length=MAX_REDIRECT_URIS,
        description="Compared exactly: no prefixes, no decoding, no case folding.",
    )
    grant_types: list[GrantType] = Field(
        default_factory=lambda: list(DEFAULT_GRANT_TYPES),
        min_length=1,
        max_length=len(GRANT_TYPES),
    )
    scope: str = Field(
        default=DEFAULT_SCOPE,
        max_length=500,
        description=f"Space-separated, of: {' '.join(USER_SCOPES)}.",
    )
    first_party: bool = Field(
        default=False, description="One of the suite's own apps: may use the password grant."
    )

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            problem = redirect_uri_problem(uri) if 1 <= len(uri) <= 2000 else "1 to 2,000 chars"
            if problem:
                raise ValueError(f"{uri[:100]!r}: {problem}")
        return uris

    @field_validator("scope")
    @classmethod
    def _scope(cls, scope: str) -> str:
        unknown = set(scope.split()) - set(USER_SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {' '.join(sorted(unknown))}")
        return " ".join(dict.fromkeys(scope.split()))

    @model_validator(mode="after")
    def _consistent(self) -> ClientRegistration:
        if self.public and "client_credentials" in self.grant_types:
            raise ValueError("a public client has no client credentials")
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("the authorization code grant needs a redirect URI")
        return self


class ClientPublic(BaseModel):
    client_id: str
    name: str
    public: bool
    redirect_uris: list[str] = Field(max_length=MAX_REDIRECT_URIS)
    grant_types: list[str] = Field(max_length=len(GRANT_TYPES))
    scope: str
    first_party: bool
    created_at: datetime


class ClientCreated(ClientPublic):
    client_secret: str | None = Field(
        default=None, description="Only for a confidential client, and only in this answer."
    )


class TokenResponse(BaseModel):
    """RFC 6749 5.1 (and OIDC Core 3.1.3.3 for `id_token`)."""

    access_token: str = Field(description="An RFC 9068 JWT, `typ: at+jwt`.")
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=1)
    scope: str
    refresh_token: str | None = Field(default=None, description="`typ: refresh+jwt`.")
    id_token: str | None = Field(default=None, description="For the openid scope; `typ: JWT`.")


class OAuthError(BaseModel):
    """An RFC 6749 5.2 error (`application/json`) that is also an RFC 9457 problem document."""

    error: str = Field(max_length=100)
    error_description: str | None = Field(default=None, max_length=2000)
    type: str = Field(max_length=2000)
    title: str = Field(max_length=200)
    status: int = Field(ge=400, le=599)
    detail: str = Field(max_length=2000)
    instance: str = Field(max_length=2000)
    request_id: str | None = Field(default=None, max_length=128)


class ServerMetadata(BaseModel):
    """RFC 8414 / OpenID Connect Discovery 1.0."""

    model_config = ConfigDict(extra="allow")
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    # Bounded as every array in the documents; the server lists a handful of each.
    response_types_supported: list[str] = Field(max_length=20)
    subject_types_supported: list[str] = Field(max_length=20)
    id_token_signing_alg_values_supported: list[str] = Field(max_length=20)


class Introspection(BaseModel):
    """RFC 7662 2.2: only `active` when the token is not active."""

    model_config = ConfigDict(extra="allow")
    active: bool


class UserInfo(BaseModel):
    """OIDC Core 5.3: standard claims, as the access token's scope allows."""

    model_config = ConfigDict(extra="allow")
    sub: str
    preferred_username: str | None = None
    email: str | None = None
