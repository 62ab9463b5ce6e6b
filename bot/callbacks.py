"""Typed button data: one small class per kind of button, packed and parsed here and nowhere else.

A button carries a short string (Telegram allows 64 bytes). Handlers never build or split that string: they
declare what a button means as a frozen dataclass with a prefix, and get an instance back when it is pressed::

    class ShowItem(Button, prefix="dos:i"):
        dossier: int
        item: str

    Choice(_("📄 Phiếu đăng ký"), ShowItem(dossier=7, item="registration"))   # packs to "dos:i:7:registration"
    Button.parse("dos:i:7:registration")  # -> ShowItem(dossier=7, item='registration')

Anything else that arrives (an old format, a forged or truncated string) parses to ``None``, which the engine
answers as a stale button. Field types are ``int`` (non-negative, at most 12 digits), ``str`` (no ``:``, except
in the last field) and ``bool`` (``1``/``0``); anything richer belongs in the database, not on a button.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Self, dataclass_transform

MAX_BYTES = 64  # Telegram's limit for callback_data; Zalo's payloads are longer, so this one binds
_SEP = ":"


class MalformedButton(ValueError):
    """A button string that no class reads."""


@dataclass_transform(frozen_default=True)
class Button:
    """Base of every typed button. Subclasses are frozen dataclasses registered under their prefix."""

    prefix: ClassVar[str]
    _fields: ClassVar[tuple[tuple[str, type], ...]]
    _by_prefix: ClassVar[dict[str, type[Button]]] = {}

    def __init_subclass__(cls, *, prefix: str | None = None, **kwargs: Any) -> None:
        """A class with a prefix is a button; one without is a family whose members share a handler."""
        super().__init_subclass__(**kwargs)
        if prefix is None:
            return
        if not prefix or prefix.endswith(_SEP):
            raise ValueError(f"{cls.__name__}: prefix {prefix!r} must be non-empty and not end with ':'")
        known = Button._by_prefix.get(prefix)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"button prefix {prefix!r} used by {known.__name__} and {cls.__name__}")
        dataclasses.dataclass(frozen=True, slots=False)(cls)
        hints = typing.get_type_hints(cls)
        fields = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        for name, kind in fields:
            if kind not in (int, str, bool):
                raise TypeError(f"{cls.__name__}.{name}: a button field is int, str or bool, not {kind!r}")
        cls.prefix = prefix
        cls._fields = fields
        Button._by_prefix[prefix] = cls

    # Packing ------------------------------------------------------------------------------------------------
    def pack(self) -> str:
        parts = [self.prefix]
        for index, (name, kind) in enumerate(self._fields):
            value = getattr(self, name)
            if kind is bool:
                parts.append("1" if value else "0")
            elif kind is int:
                if not isinstance(value, int) or value < 0:
                    raise ValueError(f"{type(self).__name__}.{name}: {value!r} is not a non-negative int")
                parts.append(str(value))
            else:
                text = str(value)
                if not text or (_SEP in text and index < len(self._fields) - 1):
                    raise ValueError(f"{type(self).__name__}.{name}: {text!r} cannot go on a button")
                parts.append(text)
        packed = _SEP.join(parts)
        if len(packed.encode()) > MAX_BYTES:
            raise ValueError(f"button data longer than {MAX_BYTES} bytes: {packed!r}")
        return packed

    def __str__(self) -> str:
        return self.pack()

    # Parsing ------------------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, payload: str | None) -> Button | None:
        """The button a payload names, or None (unknown prefix, wrong number or kind of fields)."""
        if not payload or len(payload.encode()) > MAX_BYTES:
            return None
        parts = payload.split(_SEP)
        for cut in range(len(parts), 0, -1):
            found = Button._by_prefix.get(_SEP.join(parts[:cut]))
            if found is None:
                continue
            try:
                button = found._read(parts[cut:])
            except MalformedButton:
                return None
            return button if isinstance(button, cls) else None
        return None

    @classmethod
    def _read(cls, parts: list[str]) -> Self:
        fields = cls._fields
        if not fields:
            if parts:
                raise MalformedButton
            return cls()
        if len(parts) < len(fields):
            raise MalformedButton
        if len(parts) > len(fields):  # only a trailing str field may hold ':'
            if fields[-1][1] is not str:
                raise MalformedButton
            parts = [*parts[: len(fields) - 1], _SEP.join(parts[len(fields) - 1 :])]
        values: dict[str, Any] = {}
        for (name, kind), text in zip(fields, parts, strict=True):
            values[name] = _value(kind, text)
        return cls(**values)

    @classmethod
    def matches(cls, payload: str | None) -> bool:
        return cls.parse(payload) is not None


def _value(kind: type, text: str) -> Any:
    if kind is int:
        if not text.isdigit() or len(text) > 12:
            raise MalformedButton
        return int(text)
    if kind is bool:
        if text not in ("0", "1"):
            raise MalformedButton
        return text == "1"
    if not text:
        raise MalformedButton
    return text


def registered() -> dict[str, type[Button]]:
    """Every button class by prefix (for tests and the start-up check)."""
    return dict(Button._by_prefix)
