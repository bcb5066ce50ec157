"""The reference monolith of `make bench-monolith`: the seed document's "RESTful API Example".

Flask, Flask-SQLAlchemy and SQLite, no authentication, no paging, no logging; the seed's
routes and its `to_dict()`, written again here so the benchmark measures the suite against
what a team would split into it. Two things differ from the seed's listing, neither on a
request's path: the database URL comes from MONOLITH_DATABASE_URL, and the table is made
by `python scripts/seed_monolith.py create-tables` before gunicorn starts (the seed's
create_all() at import would race between two workers).

Run: gunicorn --workers 2 --worker-class sync --pythonpath scripts seed_monolith:app
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("MONOLITH_DATABASE_URL", "sqlite:///api.db")
db = SQLAlchemy(app)


class Item(db.Model):  # type: ignore[name-defined]
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    description = db.Column(db.Text)
    price = db.Column(db.Float, nullable=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "price": self.price,
        }


@app.get("/api/items")
def get_items() -> Any:
    items = Item.query.all()
    return jsonify([item.to_dict() for item in items])


@app.get("/api/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    item = Item.query.get_or_404(item_id)
    return jsonify(item.to_dict())


@app.post("/api/items")
def create_item() -> Any:
    data = request.get_json()
    item = Item(name=data["name"], description=data.get("description", ""), price=data["price"])
    db.session.add(item)
    db.session.commit()
    return jsonify(item.to_dict()), 201


@app.put("/api/items/<int:item_id>")
def update_item(item_id: int) -> Any:
    item = Item.query.get_or_404(item_id)
    data = request.get_json()
    item.name = data.get("name", item.name)
    item.description = data.get("description", item.description)
    item.price = data.get("price", item.price)
    db.session.commit()
    return jsonify(item.to_dict())


@app.delete("/api/items/<int:item_id>")
def delete_item(item_id: int) -> Any:
    item = Item.query.get_or_404(item_id)
    db.session.delete(item)
    db.session.commit()
    return "", 204


if __name__ == "__main__" and sys.argv[1:] == ["create-tables"]:
    with app.app_context():
        db.create_all()
