"""Logging: one JSON object a line with the service and the request id."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import re
import threading
import time

import pytest
from flask import Flask

from shared.logs import JsonFormatter, StdoutHandler, configure_logging, write_per_loop_turn
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


@pytest.fixture
def loop_turn_writes(monkeypatch):
    """The suite's JSON logging on an event loop that holds lines to the end of each turn;
    yields run(fn) (calls fn inside one turn) and the writes to stdout."""
    configure_logging("svc", "INFO", "json")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if isinstance(h, StdoutHandler))
    writes: list[str] = []
    out = type("Out", (), {"write": writes.append, "flush": lambda self: None})()
    loop = asyncio.new_event_loop()
    write_per_loop_turn(loop)

    def run(fn) -> None:
        async def turn() -> None:
            fn()
            await asyncio.sleep(0)

        # Set at each call: pytest swaps stdout, and adds its own handlers, per test phase.
        with monkeypatch.context() as patch:
            patch.setattr("sys.stdout", out)
            patch.setattr(root, "handlers", [handler])
            loop.run_until_complete(turn())

    try:
        yield run, writes
    finally:
        handler._held = None
        loop.close()


class _PassAll(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        return True


ACCESS_CASES = [
    ("GET", "/api/items/1", 200, 1.234, "rid-1"),
    ("HEAD", '/a"b\\c', 404, None, "rid-2"),
    ("GET", "/caf\u00e9/\x01", 502, 10.0, "rid-3"),
    ("GET", "/x", 200, 1e-05, "rid-4"),
]


def _masked(lines: str) -> list[str]:
    """The lines with their timestamps masked (two calls cannot share one)."""
    return [re.sub(r'^\{"ts": "[^"]*"', '{"ts": "<ts>"', line) for line in lines.splitlines()]


def test_on_the_loop_an_access_line_is_the_line_its_record_makes(loop_turn_writes, monkeypatch):
    run, writes = loop_turn_writes
    formatted = []
    real_format = JsonFormatter.format
    monkeypatch.setattr(
        JsonFormatter, "format", lambda self, r: formatted.append(r) or real_format(self, r)
    )
    run(lambda: [log_access(*case) for case in ACCESS_CASES])
    assert formatted == []  # made from the fields, no record
    straight = "".join(writes)
    writes.clear()

    through_logging = _PassAll()  # a filter on the logger: the record path, same output
    logging.getLogger("access").addFilter(through_logging)
    try:
        run(lambda: [log_access(*case) for case in ACCESS_CASES])
    finally:
        logging.getLogger("access").removeFilter(through_logging)
    assert through_logging.seen == len(ACCESS_CASES)
    assert _masked(straight) == _masked("".join(writes))
    first = json.loads(straight.splitlines()[0])
    assert first["ts"].endswith("Z") and first["duration_ms"] == 1.23


def _extra_handler(stack):
    keep = _Keep()
    logging.getLogger("access").addHandler(keep)
    stack.callback(logging.getLogger("access").removeHandler, keep)
    return lambda: len(keep.records) == 1


def _record_factory(stack):
    made = []
    default = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *a, **k: made.append(default(*a, **k)) or made[-1])
    stack.callback(logging.setLogRecordFactory, default)
    return lambda: len(made) == 1


def _second_filter(stack):
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler))
    extra = _PassAll()
    handler.addFilter(extra)
    stack.callback(handler.removeFilter, extra)
    return lambda: extra.seen == 1


def _own_filter_instead(stack):
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler))
    mine, kept = _PassAll(), handler.filters
    handler.filters = [mine]
    stack.callback(setattr, handler, "filters", kept)
    return lambda: mine.seen == 1


def _text_format(stack):
    configure_logging("svc", "INFO", "text")
    stack.callback(configure_logging, "svc", "INFO", "json")
    return lambda: True


@pytest.mark.parametrize(
    "alter", [_extra_handler, _record_factory, _second_filter, _own_filter_instead, _text_format]
)
def test_any_other_logging_configuration_gets_the_record(loop_turn_writes, alter):
    run, writes = loop_turn_writes
    with contextlib.ExitStack() as stack:
        record_was_used = alter(stack)
        run(lambda: log_access("GET", "/x", 200, 1.0, "rid-9"))
        assert record_was_used()
    assert "GET /x 200" in "".join(writes)
