"""Forwarding a request to an upstream service and its answer back, streamed both ways."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import requests
from flask import Response, g, request
from werkzeug.datastructures import Headers

from shared.http_client import ServiceClient
from shared.problems import PROBLEM_MIMETYPE, Problem, problem_response
from shared.request_id import HEADER as REQUEST_ID_HEADER

log = logging.getLogger(__name__)

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# Set by the gateway itself; a client's own values are never passed on.
GATEWAY_OWNED = frozenset(
    {
        "host",
        "content-length",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        "forwarded",
        "x-request-id",
    }
)
IDEMPOTENT = frozenset({"GET", "HEAD"})
CHUNK = 64 * 1024


def _named_in_connection(headers: Headers | requests.structures.CaseInsensitiveDict) -> set[str]:
    names = set()
    for value in headers.get("Connection", "").split(","):
        if value.strip():
            names.add(value.strip().lower())
    return names


def upstream_headers(client_addr: str) -> dict[str, str]:
    drop = HOP_BY_HOP | GATEWAY_OWNED | _named_in_connection(request.headers)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in drop}
    headers["X-Forwarded-For"] = client_addr
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    headers[REQUEST_ID_HEADER] = g.request_id
    return headers


def forward(client: ServiceClient, upstream: str, client_addr: str) -> Response:
    method = request.method
    body = _request_body()
    try:
        upstream_response = _send(client, method, body, client_addr)
    except requests.Timeout as exc:
        log.warning("upstream %s timed out", upstream, extra={"upstream": upstream})
        raise Problem(504, f"The {upstream} service did not answer in time.") from exc
    except requests.ConnectionError as exc:
        log.warning("upstream %s unreachable", upstream, extra={"upstream": upstream})
        raise Problem(502, f"The {upstream} service is unavailable.") from exc
    return _relay(upstream_response, upstream)


def _request_body() -> bytes | Iterator[bytes] | None:
    if request.method in IDEMPOTENT:
        return None
    # get_data enforces MAX_CONTENT_LENGTH (413) before any upstream call is made.
    return request.get_data(cache=False) or None


def _send(
    client: ServiceClient, method: str, body: bytes | Iterator[bytes] | None, client_addr: str
) -> requests.Response:
    path = request.full_path if request.query_string else request.path
    attempts = 2 if method in IDEMPOTENT else 1
    for attempt in range(attempts):
        try:
            return client.request(
                method,
                path,
                headers=upstream_headers(client_addr),
                data=body,
                stream=True,
                allow_redirects=False,
            )
        except requests.ConnectionError:
            # Only a failure to connect is retried, and only for GET and HEAD.
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def _relay(upstream_response: requests.Response, upstream: str) -> Response:
    status = upstream_response.status_code
    content_type = upstream_response.headers.get("Content-Type", "")
    if status >= 400 and not content_type.startswith(PROBLEM_MIMETYPE):
        # HTML, plain or empty errors become problem+json; the body is never shown.
        upstream_response.close()
        return problem_response(status, f"The {upstream} service answered {status}.")
    drop = HOP_BY_HOP | _named_in_connection(upstream_response.headers)
    # The body is relayed as received (still encoded), so its length and encoding stand.
    # raw.headers keeps repeated headers apart: several Set-Cookie must stay several.
    headers = [(k, v) for k, v in upstream_response.raw.headers.items() if k.lower() not in drop]
    body = upstream_response.raw.stream(CHUNK, decode_content=False)
    response = Response(_closing(body, upstream_response), status=status, headers=headers)
    return response


def _closing(chunks: Iterator[bytes], upstream_response: requests.Response) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        upstream_response.close()
