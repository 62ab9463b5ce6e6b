"""Log lines: one line per event, key=value or JSON, phone numbers masked, chatty libraries held at INFO."""

from __future__ import annotations

import io
import json
import logging
import shlex
from collections.abc import Iterator

import pytest

from bot import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield io.StringIO()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name in ("aiosqlite", "sqlalchemy.engine", "asyncpg"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def _log_to(stream: io.StringIO, log_format: str, level: str = "INFO") -> None:
    logs.configure(level, log_format)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def _fail() -> None:
    raise ValueError("broken\nacross lines")


def test_key_value_lines(stream: io.StringIO) -> None:
    _log_to(stream, "kv")
    log = logging.getLogger("bot.test")
    log.info("sweep queued %d reminders", 3, extra={"update_id": 42, "kinds": {"cert": 2}})
    try:
        _fail()
    except ValueError:
        log.exception("update %s failed", "tg-7")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # the traceback stays inside its event's line
    first = dict(part.split("=", 1) for part in shlex.split(lines[0]))
    assert first["level"] == "info" and first["logger"] == "bot.test"
    assert first["msg"] == "sweep queued 3 reminders"
    assert first["update_id"] == "42" and json.loads(first["kinds"]) == {"cert": 2}
    assert first["time"].endswith("+00:00")
    second = dict(part.split("=", 1) for part in shlex.split(lines[1]))
    assert second["level"] == "error" and "ValueError: broken" in second["exc"]


def test_json_lines_and_masked_phones(stream: io.StringIO) -> None:
    _log_to(stream, "json")
    log = logging.getLogger("bot.test")
    log.warning("value %s rejected, then +84912345678 and 84987654321", "0912345678", extra={"phone": "0912345678"})
    try:
        _fail()
    except ValueError:
        log.exception("update 1234567890 failed")  # a Telegram id is not a phone number
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "value 091*****78 rejected, then 091*****78 and 098*****21"
    assert first["phone"] == "091*****78"
    assert "0912345678" not in json.dumps(first)
    assert second["msg"] == "update 1234567890 failed"
    assert "Traceback" in second["exc"] and "across lines" in second["exc"]


def test_debug_keeps_libraries_that_quote_parameters_at_info(stream: io.StringIO) -> None:
    _log_to(stream, "kv", "DEBUG")
    logging.getLogger("aiosqlite").debug("executing INSERT … ('0912345678', 'Nguyễn Văn A')")
    logging.getLogger("bot.engine").debug("ours")
    assert "aiosqlite" not in stream.getvalue() and "msg=ours" in stream.getvalue()
