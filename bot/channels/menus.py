"""Choices as text, for channels without buttons (Zalo Bot Platform, the console).

Only choices carry numbers there; where the next answer is itself a number (``by_words``) they carry none,
and the message says how to choose instead.
"""

from __future__ import annotations

from bot.i18n import _
from bot.messages import AskFile, AskPhone, Text
from bot.text import fold, label_words


def menu_lines(outbound: Text | AskPhone | AskFile, indent: str = "") -> list[str]:
    choices = outbound.choices
    if not choices:
        return []
    if not outbound.by_words:
        return [f"{indent}{number}. {choice.label}" for number, choice in enumerate(choices, start=1)]
    lines = [f"{indent}• {choice.label}" for choice in choices]
    example = fold(label_words(choices[0].label))
    lines.append(
        _("(Here a number is your answer. To choose one of these, type its words, for example “{words}”.)").format(
            words=example
        )
    )
    return lines
