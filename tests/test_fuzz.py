"""A first fuzz of every flow: random text, emoji, numbers, stale and foreign buttons, wrong files.

Whatever a user sends, the bot answers (never silence), in Vietnamese, and never fails inside: the engine
logs every exception it swallows, so an ERROR record here is a crash the user would have seen as an apology.
"""

from __future__ import annotations

import itertools
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.messages import SendFile
from handlers.dossier import FILE_BURST_SECONDS
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
WORDS = ["menu", "huy", "giup", "kiem tra ho so", "tình trạng", "1", "2", "9", "0", "/start", "/cancel", "có", "ok"]
STALE = ["m:nothing", "dos:item:999999", "idea:group:nope", "ob:kind:xx", "x" * 64, ""]

action = st.one_of(
    st.tuples(st.just("text"), st.text(max_size=80)),
    st.tuples(st.just("text"), st.sampled_from(WORDS)),
    st.tuples(st.just("text"), st.sampled_from(["😀", "👍🏻🔥", "ắằẳẵặ", "\u200b", "   "])),
    st.tuples(st.just("button"), st.integers(0, 20)),
    st.tuples(st.just("stale"), st.sampled_from(STALE)),
    st.tuples(st.just("file"), st.sampled_from(["png", "junk", "empty", "huge"])),
)
_users = itertools.count()


async def _play(chat: Chat, clock: FrozenClock, steps: list[tuple[str, object]]) -> None:
    previous = ""
    for kind, value in steps:
        # A file right after a file is a burst (photos picked together): it is kept and the question already
        # asked covers it, so it may get no answer of its own (``handlers.dossier``). Everything else comes
        # later than a burst lasts, and must be answered.
        burst = kind == "file" and previous == "file"
        clock.advance(seconds=1 if burst else FILE_BURST_SECONDS + 1)
        previous = kind
        if kind == "text":
            await chat.send(str(value))
        elif kind == "button":
            offered = chat.choices
            if offered:
                await chat.press(offered[int(str(value)) % len(offered)].payload)
            else:
                await chat.send("menu")
        elif kind == "stale":
            await chat.press(str(value) or "m:")
        elif value == "png":
            await chat.send_file(PNG, "anh.png")
        elif value == "junk":
            await chat.send_file(b"MZ\x90\x00 not a document at all", "virus.exe")
        elif value == "empty":
            await chat.send_file(b"", "rong.pdf")
        else:
            await chat.send_file(PNG, "lon.png", size=30 * 1024 * 1024)
        assert chat.replies or (burst and value == "png"), f"silence after {kind} {value!r}"
        texts = [r.caption if isinstance(r, SendFile) else r.text for r in chat.replies]
        assert all("Traceback" not in t for t in texts)


@pytest.mark.parametrize("onboarded", [False, True], ids=["new-user", "producer"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(action, min_size=1, max_size=25))
async def test_random_input_never_breaks_a_flow(
    app: App,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
    onboarded: bool,
    steps: list[tuple[str, object]],
) -> None:
    user = f"fuzz{next(_users)}"
    if onboarded:
        await make_producer(app, user)
    chat = Chat(app.engine, user_id=user)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="bot"):
        await _play(chat, clock, steps)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[0].getMessage() + "\n" + (errors[0].exc_text or "")
