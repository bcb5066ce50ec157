"""jsonify with one encoder built at start: compact, UTF-8 as is, keys in the order given.

Flask's default provider makes a new encoder for every answer and escapes every non-ASCII
character; on a list page that was about a third of the view's time. Types plain JSON
cannot carry still go through Flask's own `default` (dates, decimals, dataclasses).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider


class LeanJSONProvider(DefaultJSONProvider):
    sort_keys = False
    ensure_ascii = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), default=self.default
        ).encode

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # a caller's own options: Flask's way
            return super().dumps(obj, **kwargs)
        return self._encode(obj)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self._encode(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(f"{body}\n", mimetype=self.mimetype)  # type: ignore[return-value]
