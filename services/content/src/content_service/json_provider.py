"""jsonify through orjson: compact, UTF-8 as is, keys in the order given.

Flask's default provider makes a new encoder for every answer and escapes every non-ASCII
character; on a list page the standard library's encoder was still about a tenth of the
request (py-spy). orjson encodes in C. The types it would write its own way (dates and
datetimes, dataclasses) and those it cannot (decimals) still go through Flask's own
`default`, so every answer reads as it did with Flask's provider.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class LeanJSONProvider(DefaultJSONProvider):
    sort_keys = False
    ensure_ascii = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._default = self.default
        self._flask = app  # typed as Flask: its response_class takes a body

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # a caller's own options: Flask's way
            return super().dumps(obj, **kwargs)
        return orjson.dumps(obj, default=self._default, option=OPTIONS).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = orjson.dumps(
            self._prepare_response_obj(args, kwargs),
            default=self._default,
            option=OPTIONS | orjson.OPT_APPEND_NEWLINE,
        )
        return self._flask.response_class(body, mimetype=self.mimetype)
