"""Integer ids in URLs limited to 18 digits, which every 64-bit signed column holds.

Werkzeug's `int` converter takes any number of digits; a longer id reached the database
driver and failed with an overflow (a 500). Limited in the pattern, it matches no route: 404.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 10**18 - 1


class DatabaseIdConverter(IntegerConverter):
    regex = r"\d{1,18}"


def init_id_converter(app: Flask) -> None:
    """Make `<int:...>` bounded; call before any blueprint is registered."""
    app.url_map.converters["int"] = DatabaseIdConverter
