"""Log lines an operator's tools can read: one line per event, ``key=value`` fields (logfmt), or one JSON
object per line with ``LOG_FORMAT=json``.

Every line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``msg``; fields passed with
``log.info("…", extra={"update_id": 5})`` follow as their own keys, and a traceback comes as one escaped
``exc`` field, so that one event is always one line (a log shipper never splits a stack trace).

Personal data stays out: the bot's own messages name ids, never names, phone numbers or message text. As a
second line of defence a Vietnamese phone number that slips into a message (a library quoting a value) is
masked, and the libraries whose DEBUG lines quote SQL parameters are held at INFO.

Why not a library: python-json-logger writes only JSON and structlog would change every call site; both
formats from the standard ``logging`` records fit in the few lines below.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

FORMATS = ("kv", "json")
# Vietnamese mobile numbers, as typed or stored (0912345678, +84912345678, 84912345678).
_PHONE = re.compile(r"(?<![\w.])(?:\+?84|0)(\d{2})\d{5}(\d{2})(?!\w)")
_BARE = re.compile(r"^[^\s\"=\\]+$")
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# Their DEBUG lines quote statements' parameters (phone numbers, names): never below INFO.
_CHATTY = ("aiosqlite", "sqlalchemy.engine", "asyncpg")


def mask(text: str) -> str:
    return _PHONE.sub(lambda m: f"0{m.group(1)}*****{m.group(2)}", text)


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event as ordered fields: time, level, logger, msg, the extras, then exc."""
    event: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": mask(record.getMessage()),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            event[key] = mask(value) if isinstance(value, str) else value
    if record.exc_info:
        event["exc"] = mask(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        event["exc"] = mask(record.exc_text)
    return event


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_kv_value(value)}" for key, value in fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(fields(record), ensure_ascii=False, default=str)


def _kv_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if text and _BARE.match(text):
        return text
    # Quoted with JSON's escapes: newlines become \n, so the event stays on one line.
    return json.dumps(text, ensure_ascii=False)


def configure(level: str, log_format: str) -> None:
    """Route every logger to stderr in the chosen format (replacing any handler set before)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if root.level < logging.INFO:
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.INFO)
