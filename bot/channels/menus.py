"""Choices as text, for channels without buttons (Zalo Bot Platform, the console).

A number typed there must mean one thing: only the choices of the last message of a reply carry numbers (the
engine reads a number as the newest message's choice), content is never numbered, and where the next answer
is itself a number (``by_words``) no choice carries one and the message says how to choose instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import _
from bot.messages import AskFile, AskPhone, Outbound, Text, choices_of
from bot.text import fold, label_words


def numbered_messages(outbounds: Sequence[Outbound]) -> list[bool]:
    """For each message of one reply, whether its choices carry numbers: only the last one offering any."""
    last = max((index for index, outbound in enumerate(outbounds) if choices_of(outbound)), default=-1)
    return [index == last for index in range(len(outbounds))]


def menu_lines(outbound: Text | AskPhone | AskFile, indent: str = "", *, numbered: bool = True) -> list[str]:
    choices = outbound.choices
    if not choices:
        return []
    if numbered and not outbound.by_words:
        return [f"{indent}{number}. {choice.label}" for number, choice in enumerate(choices, start=1)]
    lines = [f"{indent}• {choice.label}" for choice in choices]
    if not outbound.by_words:
        return lines
    example = fold(label_words(choices[0].label))
    lines.append(
        _("(Here a number is your answer. To choose one of these, type its words, for example “{words}”.)").format(
            words=example
        )
    )
    return lines
