"""Forwarding a request to an upstream service and its answer back, large bodies streamed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from flask import Response, current_app, g, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import RequestEntityTooLarge

from gateway_service.connections import Answer as UpstreamAnswer
from gateway_service.connections import AnswerBroken, AnswerTimedOut
from gateway_service.forwarding import request_target, response_headers, upstream_headers
from gateway_service.loop_connections import LoopAnswer
from gateway_service.upstream import Upstream, UpstreamError
from shared.problems import PROBLEM_MIMETYPE, Problem, problem_body

CHUNK = 64 * 1024
# Answers up to this size are read whole (one write to the client); larger ones stream.
SMALL_BODY = 256 * 1024
# An upstream's error answer is read at most this far to check it is a problem document.
MAX_PROBLEM_BYTES = 64 * 1024
# Upstream headers still meaningful on an error answer the gateway rewrites.
DROPPED_ON_PROBLEM = ("content-length", "content-encoding", "content-type")
KEPT_ON_ERROR = ("www-authenticate", "retry-after", "allow", "location", "etag")


def forward(upstream: Upstream) -> Response:
    body, length = _request_body()
    headers = upstream_headers()
    if length is not None:
        headers["Content-Length"] = str(length)
    target = request_target(request.environ)
    status, answer_headers, content = call(
        upstream, request.method, target, headers, body, g.request_id, request.path
    )
    response = Response(content, status=status, headers=answer_headers)
    if not any(k.lower() == "content-type" for k, _ in answer_headers):
        del response.headers["Content-Type"]  # not werkzeug's text/html default on a 204
    return response


# What leaves for the client: status, headers, and the body as an iterable of bytes.
Answer = tuple[int, list[tuple[str, str]], Iterable[bytes]]


def call(
    upstream: Upstream,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    request_id: str,
    instance: str,
) -> Answer:
    """Send one request upstream and shape its answer for the client, with or without Flask.

    Raises Problem when there is no usable answer (502, 503 or 504).
    """
    try:
        answer = upstream.request(method, path, headers, body=body, stream=True)
    except UpstreamError as exc:
        raise Problem(exc.status, exc.detail, headers=exc.headers) from exc
    if answer.status >= 400:
        return _error_answer(answer, upstream.name, request_id, instance)
    return _relay(answer, upstream.name)


async def call_on_loop(
    upstream: Upstream,
    method: str,
    path: str,
    headers: dict[str, str],
    request_id: str,
    instance: str,
) -> tuple[int, list[tuple[str, str]], Iterable[bytes] | AsyncIterator[bytes]]:
    """call() on the event loop, for a request without a body."""
    try:
        answer = await upstream.request_on_loop(method, path, headers)
    except UpstreamError as exc:
        raise Problem(exc.status, exc.detail, headers=exc.headers) from exc
    if answer.status >= 400:
        raw = await _read_on_loop(answer, upstream.name, MAX_PROBLEM_BYTES + 1)
        if len(raw) > MAX_PROBLEM_BYTES:
            answer.close()
        answer.release()
        return error_answer(answer.status, answer.headers, raw, upstream.name, request_id, instance)
    headers_out = _relayed(answer.headers)
    if _is_small(answer.headers.get("Content-Length")):
        return answer.status, headers_out, [await _read_on_loop(answer, upstream.name)]
    return answer.status, headers_out, answer.stream(CHUNK)


async def _read_on_loop(answer: LoopAnswer, name: str, amount: int | None = None) -> bytes:
    with _answer_failures(name):
        return await answer.read(amount)


def _is_small(declared: str | None) -> bool:
    return declared is not None and declared.isdigit() and int(declared) <= SMALL_BODY


def _request_body() -> tuple[Any, int | None]:
    """The body to send on, and its length; 413 before any upstream call when too large."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None:
        if length > limit:
            raise Problem(413, f"The request body is larger than {limit} bytes.")
        # Streamed as it arrives: never held whole in the gateway.
        return (request.stream if length else None), length
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # No announced length: read up to the limit first, so an oversized body costs
        # the upstream nothing. The limit bounds what is held.
        data = _read_at_most(limit)
        return data, len(data)
    return None, None


def _read_at_most(limit: int) -> bytes:
    parts, size = [], 0
    try:
        while chunk := request.stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge()
            parts.append(chunk)
    except RequestEntityTooLarge as exc:  # werkzeug's own MAX_CONTENT_LENGTH guard, too
        raise Problem(413, f"The request body is larger than {limit} bytes.") from exc
    except (ParseException, NoMoreData) as exc:  # a bad chunk size, a body cut short
        raise Problem(400, "The chunked request body is malformed.") from exc
    return b"".join(parts)


@contextlib.contextmanager
def _answer_failures(name: str) -> Iterator[None]:
    """A break or a stall before an answer's end is the upstream's failure: 502 or 504."""
    try:
        yield
    except AnswerTimedOut as exc:
        raise Problem(504, f"The {name} service did not finish its answer in time.") from exc
    except AnswerBroken as exc:
        raise Problem(502, f"The {name} service broke off its answer.") from exc


def _read(answer: UpstreamAnswer, name: str, amount: int | None = None) -> bytes:
    with _answer_failures(name):
        return answer.read(amount)


def _relayed(headers: Any) -> list[tuple[str, str]]:
    """An upstream answer's headers as the client gets them (see response_headers)."""
    return response_headers(headers.items(), headers.get("Connection"))


def _relay(answer: UpstreamAnswer, name: str) -> Answer:
    headers = _relayed(answer.headers)
    if _is_small(answer.headers.get("Content-Length")):
        data = _read(answer, name)
        answer.release()
        return answer.status, headers, [data]
    return answer.status, headers, _stream(answer)


def _stream(answer: UpstreamAnswer) -> Iterator[bytes]:
    complete = False
    try:
        yield from answer.stream(CHUNK)
        complete = True
    finally:
        if not complete:
            answer.close()  # a half-read connection cannot be reused
        answer.release()


def _error_answer(answer: UpstreamAnswer, name: str, request_id: str, instance: str) -> Answer:
    raw = _read(answer, name, MAX_PROBLEM_BYTES + 1)
    if len(raw) > MAX_PROBLEM_BYTES:
        answer.close()
    answer.release()
    return error_answer(answer.status, answer.headers, raw, name, request_id, instance)


def error_answer(
    status: int, headers: Any, raw: bytes, name: str, request_id: str, instance: str
) -> Answer:
    """Every error leaves as problem+json carrying the request id, whatever the upstream sent.

    `raw`: the upstream's body, read up to one byte past MAX_PROBLEM_BYTES; `headers` its
    headers (case-insensitive get(), items()).
    """
    complete = len(raw) <= MAX_PROBLEM_BYTES
    document = _problem_document(status, headers, raw) if complete else None
    if document is None:
        # HTML, plain text, JSON of another shape or nothing: the body is never shown.
        kept = [(k, v) for k, v in headers.items() if k.lower() in KEPT_ON_ERROR]
        document = problem_body(
            status,
            f"The {name} service answered {status}.",
            instance=instance,
            request_id=request_id,
        )
        return problem_answer(status, document, kept)
    if not document.get("request_id"):
        document["request_id"] = request_id
    relayed = [(k, v) for k, v in _relayed(headers) if k.lower() not in DROPPED_ON_PROBLEM]
    return problem_answer(status, document, relayed)


def problem_answer(
    status: int, document: dict[str, Any], headers: Iterable[tuple[str, str]] = ()
) -> Answer:
    body = json.dumps(document).encode()
    content = [("Content-Type", PROBLEM_MIMETYPE), ("Content-Length", str(len(body)))]
    return status, [*headers, *content], [body]


def _problem_document(status: int, headers: Any, raw: bytes) -> dict[str, Any] | None:
    content_type = headers.get("Content-Type", "")
    if not content_type.startswith(PROBLEM_MIMETYPE):
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("status") != status:
        return None
    return document
