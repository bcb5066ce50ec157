"""Logging: one JSON object a line with the service and the request id."""

from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import time

import pytest
from flask import Flask

from shared.logs import configure_logging
from shared.request_id import accept_or_mint, init_request_id, log_access


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


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records():
    access = logging.getLogger("access")
    keep, level = _Keep(), access.level
    access.addHandler(keep)
    access.setLevel(logging.INFO)
    yield keep.records
    access.removeHandler(keep)
    access.setLevel(level)


def test_access_records_are_whole_log_records(access_records):
    log_access("GET", "/x", 200, 1.234, "rid-1")
    made = []
    default = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        made.append(default(*args, **kwargs))
        return made[-1]

    logging.setLogRecordFactory(factory)  # a factory someone installed is still used
    try:
        log_access("GET", "/y", 404, None, "rid-2")
    finally:
        logging.setLogRecordFactory(default)

    first, second = access_records
    assert (first.name, first.levelname, first.getMessage()) == ("access", "INFO", "GET /x 200")
    assert (first.method, first.path, first.status) == ("GET", "/x", 200)
    assert (first.duration_ms, first.request_id) == (1.23, "rid-1")
    assert first.process == os.getpid()
    assert first.thread == threading.get_ident()
    assert abs(first.created - time.time()) < 5
    assert 0 <= first.msecs < 1000
    assert made == [second]
    assert (second.getMessage(), second.duration_ms) == ("GET /y 404", None)


def test_a_forked_child_logs_its_own_pid(access_records):
    log_access("GET", "/parent", 200, 1.0)  # the template is made in the parent
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            log_access("GET", "/child", 200, 1.0)
            os.write(write_end, str(access_records[-1].process).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    reported = os.read(read_end, 64)
    os.close(read_end)
    os.waitpid(child, 0)
    assert int(reported) == child
    assert access_records[-1].process == os.getpid()


def test_json_lines_take_any_value(capsys):
    configure_logging("svc", "INFO", "json")
    when = datetime.datetime(2026, 11, 26, 4, 30, tzinfo=datetime.UTC)
    logging.getLogger("svc").info('caf\u00e9 "quoted"', extra={"when": when, "ids": [1, 2]})
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["message"] == 'caf\u00e9 "quoted"'
    assert line["when"] == str(when)  # what json cannot encode is written as text
    assert line["ids"] == [1, 2]


def test_minted_request_ids_are_fresh_and_never_shared_with_a_forked_child():
    minted = [accept_or_mint(None) for _ in range(600)]  # beyond one batch of random bits
    assert len(set(minted)) == len(minted)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in minted)
    accept_or_mint(None)  # the parent holds ids it has not handed out yet
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write_end, " ".join(accept_or_mint(None) for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    from_child = set(os.read(read_end, 4096).decode().split())
    os.close(read_end)
    os.waitpid(child, 0)
    from_parent = {accept_or_mint(None) for _ in range(300)}
    assert len(from_child) == 3
    assert not from_child & from_parent
