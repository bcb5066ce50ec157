"""Logging: one JSON object a line with the service and the request id."""

from __future__ import annotations

import asyncio
import json
import logging

from flask import Flask

from shared.logs import StdoutHandler, configure_logging, write_per_loop_turn
from shared.request_id import init_request_id


def test_json_lines_carry_service_and_request_id(capsys):
    configure_logging("svc", "INFO", "json")
    app = Flask(__name__)
    init_request_id(app)

    @app.get("/work")
    def work():
        logging.getLogger("svc.work").info("doing work", extra={"items": 3})
        return "ok"

    app.test_client().get("/work", headers={"X-Request-ID": "rid-42"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    work_line = next(line for line in lines if line["message"] == "doing work")
    assert work_line["service"] == "svc"
    assert work_line["request_id"] == "rid-42"
    assert work_line["items"] == 3
    access = next(line for line in lines if line["logger"] == "access")
    assert access["status"] == 200
    assert access["request_id"] == "rid-42"


def test_text_format_for_people(capsys):
    configure_logging("svc", "INFO", "text")
    logging.getLogger("x").warning("plain words")
    out = capsys.readouterr().out
    assert "plain words" in out
    assert "[svc]" in out
    configure_logging("svc", "INFO", "json")


def test_on_a_loop_that_asks_the_lines_of_one_turn_leave_in_one_write(monkeypatch):
    configure_logging("svc", "INFO", "json")
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler))
    writes: list[str] = []
    monkeypatch.setattr(
        "sys.stdout", type("Out", (), {"write": writes.append, "flush": lambda self: None})()
    )
    loop = asyncio.new_event_loop()
    try:
        write_per_loop_turn(loop)

        async def two_requests() -> None:
            logging.getLogger("access").info("first")
            logging.getLogger("access").info("second")
            assert writes == []  # held until the turn ends
            await asyncio.sleep(0)

        loop.run_until_complete(two_requests())
        assert len(writes) == 1
        assert [json.loads(line)["message"] for line in writes[0].splitlines()] == [
            "first",
            "second",
        ]
        logging.getLogger("x").warning("outside the loop")  # written at once
        assert len(writes) == 2
    finally:
        handler._held = None
        loop.close()
