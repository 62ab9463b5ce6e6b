"""Steps that dispatch on input: a handler per button class, typed text, a number or a file; guards ahead of
every question and answer; the flow's data as a versioned dataclass. Runs a small flow through the real engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bot.app import App
from bot.callbacks import Button
from bot.engine import Engine
from bot.flow import Context, Flow, FlowData, Registry
from bot.messages import Choice, Inbound, IncomingFile, Outbound, ReceivedFile, Text
from storage.models import ChannelIdentity
from tests.files import png


class _Size(Button, prefix="tf:size"):
    litres: int


class _Done(Button, prefix="tf:done"):
    pass


@dataclass
class _Order(FlowData):
    VERSION = 2
    sizes: list[int] = field(default_factory=list)
    note: str = ""

    @classmethod
    def upgrade(cls, raw: dict[str, object]) -> dict[str, object]:
        # Version 1 kept one size under "size".
        size = raw.pop("size", None)
        return {**raw, "sizes": [size] if isinstance(size, int) else []}


flow = Flow("tf", first_step="size", data=_Order)
refused: list[int] = []


@flow.before
async def only_known(ctx: Context) -> bool:
    if ctx.user.id in refused:
        ctx.say("refused")
        ctx.end_flow()
        return False
    return True


@flow.ask("size")
async def ask_size(ctx: Context) -> None:
    ctx.say("size?", [Choice("Một lít", _Size(litres=1)), Choice("Hai lít", _Size(litres=2)), Choice("Xong", _Done())])


@flow.on("size", _Size)
async def size_pressed(ctx: Context, pressed: _Size) -> None:
    ctx.form(_Order).sizes.append(pressed.litres)
    await ctx.goto("size")


@flow.on("size", _Done)
async def done_pressed(ctx: Context, _pressed: _Done) -> None:
    await ctx.goto("count")


@flow.ask("count", number=True)
async def ask_count(ctx: Context) -> None:
    ctx.say("how many?", [Choice("Quay lại", _Done())])


@flow.on_number("count")
async def got_count(ctx: Context, number: int) -> None:
    ctx.form(_Order).note = f"x{number}"
    await ctx.goto("note")


@flow.on("count", _Done)
async def count_back(ctx: Context, _pressed: _Done) -> None:
    await ctx.goto("size")


@flow.ask("note")
async def ask_note(ctx: Context) -> None:
    ctx.say("note?")


@flow.on_text("note")
async def got_note(ctx: Context, text: str) -> None:
    order = ctx.form(_Order)
    order.note += f" {text}"
    await ctx.goto("photo")


@flow.ask("photo")
async def ask_photo(ctx: Context) -> None:
    ctx.say("photo?")


@flow.on_file("photo")
async def got_photo(ctx: Context, file: ReceivedFile) -> None:
    order = ctx.form(_Order)
    ctx.say(f"order {order.sizes} {order.note} {file.mime}")
    ctx.end_flow()


async def _start(ctx: Context, _argument: str | None) -> None:
    await ctx.start("tf")


def _engine(app: App) -> Engine:
    registry = Registry()
    registry.add_flow(flow)
    registry.commands["tf"] = _start
    return Engine(app.engine.sessions, registry, app.settings, app.engine.files, app.engine.clock)


class _Talk:
    def __init__(self, engine: Engine, user: str) -> None:
        self.engine, self.user, self.count = engine, user, 0

    async def send(
        self, text: str | None = None, payload: str | None = None, file: IncomingFile | None = None
    ) -> list[str]:
        self.count += 1
        inbound = Inbound(
            "telegram", self.user, f"{self.user}-{self.count}", chat_id=self.user, text=text, payload=payload, file=file
        )
        replies: list[Outbound] = await self.engine.handle(inbound)
        return [reply.text for reply in replies if isinstance(reply, Text)]

    async def send_file(self, data: bytes, name: str) -> list[str]:
        async def download() -> bytes:
            return data

        return await self.send(file=IncomingFile(name, None, len(data), download))


async def test_each_input_reaches_its_handler_and_the_form_survives_between_updates(app: App) -> None:
    talk = _Talk(_engine(app), "701")
    assert await talk.send("/tf") == ["size?"]
    assert await talk.send(payload="tf:size:2") == ["size?"]
    assert await talk.send("mot lit") == ["size?"]  # the option's words are its button
    assert await talk.send(payload="tf:done") == ["how many?"]
    assert (await talk.send("abc"))[0] != "how many?"  # not a number: a hint, then the question again
    assert await talk.send("3") == ["note?"]  # on a number step, 3 is a number, not an option
    assert await talk.send("giao sớm") == ["photo?"]
    refused = await talk.send_file(b"MZ not a photo", "virus.exe")
    assert refused[-1] == "photo?" and "không dùng được loại tệp" in refused[0]  # refused, then asked again
    assert await talk.send_file(png(), "anh.png") == ["order [2, 1] x3 giao sớm image/png"]


async def test_a_button_from_another_step_or_forged_never_reaches_a_handler(app: App) -> None:
    talk = _Talk(_engine(app), "702")
    await talk.send("/tf")
    before = await talk.send(payload="tf:size:99")  # not offered: stale, the question again
    assert before[-1] == "size?" and len(before) == 2
    assert (await talk.send(payload="tf:size:x"))[-1] == "size?"  # malformed


async def test_a_guard_answers_instead_of_every_question_and_answer(app: App) -> None:
    talk = _Talk(_engine(app), "703")
    await talk.send("/tf")
    async with app.engine.sessions() as session:
        identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == "703"))
        assert identity is not None
        refused.append(identity.user_id)
    try:
        assert await talk.send(payload="tf:size:1") == ["refused"]
    finally:
        refused.clear()


def test_an_older_row_of_the_form_still_loads() -> None:
    assert _Order.load({"size": 5, "note": "n", "gone": True}) == _Order(sizes=[5], note="n")
    assert _Order.load(_Order(sizes=[1, 2]).dump()) == _Order(sizes=[1, 2])
    assert _Order.load({}) == _Order()


@dataclass
class _Address:
    village: str = ""
    commune: str | None = None


@dataclass
class _Delivery(FlowData):
    to: _Address = field(default_factory=_Address)
    back: _Address | None = None
    counts: dict[str, int] = field(default_factory=dict)


def test_a_group_of_the_form_comes_back_as_its_dataclass() -> None:
    form = _Delivery(to=_Address("Bản Lướt", "Bình Lư"), back=_Address("Bản Hon"), counts={"chè": 2})
    assert _Delivery.load(form.dump()) == form
    assert isinstance(_Delivery.load(form.dump()).back, _Address)
    # A group keeps the same forgiveness as the form: unknown keys dropped, missing ones take their defaults.
    assert _Delivery.load({"to": {"village": "Nà Tăm", "old": 1}, "back": None}) == _Delivery(to=_Address("Nà Tăm"))
