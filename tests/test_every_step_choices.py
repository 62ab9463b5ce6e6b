"""Every offered option of every step of every registered flow, chosen by the number the channel shows and by
its words typed without diacritics, does what pressing its button does: on the console and on the Zalo Bot
Platform (both show choices as numbered text).

The walk is data-driven: it starts from each kind of user's menu and commands, presses every option and
types the answers in ``ANSWERS`` to move on, and so reaches the steps of flows added later without being
told. A step the walk cannot reach fails the test by name: give it an answer in ``ANSWERS`` (or the data it
needs in ``_setup``).

Each attempt runs inside a SAVEPOINT that is rolled back afterwards, so pressing and typing start from the
very same database state and their outcomes (replies, conversation step and data) can be compared exactly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from bot import office_jobs
from bot.app import App
from bot.channels import console
from bot.channels.menus import numbered_messages
from bot.channels.zalo_bot import ZaloBotChannel, ZaloBotClient
from bot.engine import Engine
from bot.flow import Context, Step
from bot.messages import Choice, Inbound, Outbound, SendFile, choices_of
from bot.rules import Role
from bot.text import fold, label_words
from storage import dossiers, privacy, rounds, staff
from storage.filestore import FileStore
from storage.models import ChannelIdentity, Conversation, DossierItem
from tests import files
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, PHONG_THO, certify, commune_code, make_idea
from tests.test_province import S, make_dossier, make_round, make_staff

CHANNELS = ("console", "zalo_bot")

# What a user types (or sends) to move past a step that waits for data rather than a button.
ANSWERS: dict[tuple[str, str], tuple[str | bytes, ...]] = {
    ("onboarding", "phone"): ("0912 345 678",),
    ("onboarding", "name"): ("HTX Mới Tả Van",),
    ("onboarding", "commune"): ("Bình Lư", "binh"),  # one commune, and several to pick from
    ("idea", "name"): ("Mật ong bạc hà",),
    ("idea", "description"): ("Mật ong hoa bạc hà, quay ly tâm.",),
    ("idea", "materials"): ("Mật ong hoa bạc hà",),
    ("idea", "origin_place"): ("Hà Giang",),
    ("idea", "workers"): ("5",),
    ("idea", "local_workers"): ("3",),
    ("idea", "market"): ("Chợ phiên Tả Van",),
    ("idea", "support"): ("Làm nhãn và bao bì",),
    ("dossier", "new_name"): ("Chè xanh Sìn Hồ",),
    ("dossier", "item"): (files.jpeg(3),),
    ("dossier", "checklist"): (files.jpeg(4),),
    ("dossier", "expiry"): ("31/12/2027",),
    ("commune_review", "reason"): ("Thiếu ảnh nhãn sản phẩm.",),
    ("admin", "commune"): ("Bình Lư",),
    ("link", "code"): ("12345678",),
    ("province", "round_name"): ("Đợt 3/2026",),
    ("province", "round_deadline"): ("20/12",),
    ("province", "round_meeting"): ("28/12/2026",),
    ("province", "return_note"): ("Bổ sung phiếu kiểm nghiệm.",),
    ("province", "score_a"): ("30",),
    ("province", "score_b"): ("20",),
    ("province", "score_c"): ("30",),
    ("province", "cert_no"): ("1234/QĐ-UBND",),
    ("province", "cert_date"): ("20/02/2026",),
    ("province", "revoke_reason"): ("Vi phạm an toàn thực phẩm.",),
    ("admin", "staff_name"): ("Nguyễn Thị Hoa",),
    ("staff_phone", "phone"): ("0987 654 321",),
    ("province", "member_name"): ("Lò Văn Hội",),
    ("province", "sheet_a"): ("30",),
    ("province", "sheet_b"): ("20",),
    ("province", "sheet_c"): ("25",),
    ("province", "mandatory_note"): ("Chưa có phiếu kiểm nghiệm vi sinh.",),
    ("province", "correct_reason"): ("Nhập nhầm điểm phần B.",),
    ("province", "decision_upload"): (files.pdf(7),),
    ("commune_report", "scan"): (files.jpeg(8),),
    ("find", "query"): ("gao",),
    ("privacy_admin", "hold_reason"): ("Đang có tranh chấp về giấy chứng nhận.",),
}
INVITE_CODE = "inv_walk-every-step-0123456789abcdef"
# Where each kind of user starts: what they type first.
STARTS: dict[str, tuple[str, ...]] = {
    "newcomer": ("/start",),
    "producer": ("menu", "/profile", "/link", "/lich"),
    "commune": ("menu",),
    "province": ("menu", "/province"),
    "admin": ("menu",),
    "invitee": (f"/start {INVITE_CODE}",),
    "commune2": ("menu",),
}
MAX_DEPTH = 24


@dataclass
class Walk:
    channel: str
    engine: Engine
    connection: AsyncConnection
    renderer: Callable[[list[Outbound]], list[str]]
    update: int = 0
    asked: set[tuple[str, str]] = field(default_factory=set)
    # Each place expanded, with the depth it was expanded at: reached again closer to the start, it is
    # expanded again (the walk goes depth first, and a deep first visit leaves no depth to explore with).
    expanded: dict[tuple[Any, ...], int] = field(default_factory=dict)
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    async def send(self, user: str, **fields: Any) -> list[Outbound]:
        self.update += 1
        inbound = Inbound(self.channel, user, f"walk-{self.update}", chat_id=user, **fields)
        return await self.engine.handle(inbound)

    async def act(self, user: str, move: str | bytes | Choice) -> list[Outbound]:
        if isinstance(move, Choice):
            return await self.send(user, payload=move.payload)
        if isinstance(move, bytes):
            data = move

            async def download() -> bytes:
                return data

            from bot.messages import IncomingFile

            return await self.send(user, file=IncomingFile("anh.jpg", None, len(data), download))
        return await self.send(user, text=move)

    async def conversation(self, user: str) -> Conversation:
        user_id = await self.connection.scalar(
            select(ChannelIdentity.user_id).where(
                ChannelIdentity.channel == self.channel, ChannelIdentity.external_id == user
            )
        )
        row = (await self.connection.execute(select(Conversation).where(Conversation.user_id == user_id))).one()
        return Conversation(flow=row.flow, step=row.step, data=row.data, last_choices=row.last_choices)

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        savepoint = await self.connection.begin_nested()
        try:
            yield
        finally:
            await savepoint.rollback()

    async def outcome(self, user: str, move: str | Choice) -> tuple[Any, ...]:
        """What ``move`` does from here (replies, step, step data), undone afterwards."""
        async with self.attempt():
            replies = await self.act(user, move)
            conversation = await self.conversation(user)
            return (
                _place(conversation, replies),
                json.dumps(conversation.data, sort_keys=True, default=str),
                [_shown(reply) for reply in replies],
            )


def _place(conversation: Conversation, replies: list[Outbound]) -> tuple[Any, ...]:
    """Where a user is, for the walk: the step and the kinds of options offered (ids left out)."""
    kinds = {re.sub(r"\d+", "#", choice.payload) for reply in replies for choice in choices_of(reply)}
    return (conversation.flow, conversation.step, tuple(sorted(kinds)))


def _shown(reply: Outbound) -> tuple[Any, ...]:
    if isinstance(reply, SendFile):
        return ("file", reply.name)
    return (type(reply).__name__, _unrandom(reply.text), tuple((c.label, c.payload) for c in reply.choices))


def _unrandom(text: str) -> str:
    """Link codes and invite tokens are random by design: two equal presses show different ones."""
    text = re.sub(r"\b\d{4} ?\d{4}\b", "<code>", text)
    # An invite token by its prefix: one in about 230 has no digit, and the rule below would miss it.
    text = re.sub(rf"{staff.INVITE_PREFIX}[\w-]+", "<token>", text)
    return re.sub(r"(?<!\S)(?=\S*\d)\S{16,}", "<token>", text)


def _number_shown(rendered: str, label: str) -> int | None:
    match = re.search(rf"^\s*(\d+)\. {re.escape(label)}$", rendered, re.MULTILINE)
    return int(match.group(1)) if match else None


async def check_step(walk: Walk, user: str, replies: list[Outbound]) -> dict[str, tuple[Any, ...]]:
    """Each option of the reply: its shown number and its words lead where its button leads. Returns where
    each option's button leads."""
    conversation = await walk.conversation(user)
    where = f"{walk.channel} {conversation.flow}.{conversation.step}"
    flow = walk.engine.registry.flows.get(conversation.flow or "")
    number_step = flow is not None and conversation.step in flow.number_steps
    rendered = walk.renderer(replies)
    numbered = numbered_messages(replies)
    offered = [choice for reply in replies for choice in choices_of(reply)]
    words_of = [fold(label_words(choice.label)) for choice in offered]
    for index, reply in enumerate(replies):
        labels = {choice.label for choice in choices_of(reply)}
        for line in rendered[index].splitlines():
            numbered_line = re.match(r"^\s*\d+[.)] (.*)$", line)
            if numbered_line and numbered_line.group(1) not in labels:
                walk.problems.append(f"{where}: content numbered like a choice: {line!r}")
        if "bấm" in rendered[index].casefold():
            walk.problems.append(f"{where}: says “bấm” where there are no buttons: {rendered[index]!r}")
    leads: dict[str, tuple[Any, ...]] = {}
    for index, reply in enumerate(replies):
        for choice in choices_of(reply):
            walk.checked += 1
            pressed = await walk.outcome(user, choice)
            leads[choice.payload] = pressed[0]
            shown = _number_shown(rendered[index], choice.label)
            if number_step or not numbered[index]:
                if shown is not None:
                    walk.problems.append(f"{where}: “{choice.label}” carries the number {shown}")
            elif shown is None:
                walk.problems.append(f"{where}: “{choice.label}” is shown without its number")
            elif await walk.outcome(user, str(shown)) != pressed:
                walk.problems.append(f"{where}: typing {shown} is not pressing “{choice.label}”")
            words = fold(label_words(choice.label))
            if words and words_of.count(words) == 1 and await walk.outcome(user, words) != pressed:
                walk.problems.append(f"{where}: typing “{words}” is not pressing “{choice.label}”")
    return leads


async def explore(walk: Walk, user: str, replies: list[Outbound], depth: int) -> None:
    conversation = await walk.conversation(user)
    offered = [choice for reply in replies for choice in choices_of(reply)]
    # Each kind of user walks their own places: two commune officers see the same screens with other dossiers.
    place = (user, *_place(conversation, replies))
    if walk.expanded.get(place, MAX_DEPTH + 1) <= depth:
        return
    walk.expanded[place] = depth
    leads = await check_step(walk, user, replies)
    if depth >= MAX_DEPTH:
        return
    answers = ANSWERS.get((conversation.flow or "", conversation.step or ""), ())
    for move in [*offered, *answers]:
        if isinstance(move, Choice) and walk.expanded.get((user, *leads[move.payload]), MAX_DEPTH + 1) <= depth + 1:
            continue  # its button leads where the walk has been
        async with walk.attempt():
            await explore(walk, user, await walk.act(user, move), depth + 1)


async def _setup(app: App, channel: str) -> None:
    """A producer with an idea and dossiers in every state staff act on, and one staff member per role."""
    code = commune_code(app, BINH_LU)
    producer = await make_producer(app, "producer", channel=channel)
    await make_idea(app, producer, name="Trà hoa vàng")
    await make_dossier(app, producer, status=S.DRAFT, name="Miến dong")
    submitted = await make_dossier(app, producer, status=S.SUBMITTED_COMMUNE, name="Măng khô")
    # A producer-level paper already sent: every dossier the walk creates is offered it (dossier_reuse),
    # however deep the walk's own uploads land.
    await _file_in_item(app, producer, submitted, "business_registration")
    await make_dossier(app, producer, status=S.AT_PROVINCE, name="Gạo séng cù")
    await make_dossier(app, producer, status=S.AT_PROVINCE, name="Nấm hương")  # two: the batch accept
    round_id = await make_round(app)
    await _council_states(app, producer, round_id, channel)
    await _imported_producer(app)
    # A round whose deadline passed before the dossiers reached the commune: taking one in asks for the
    # audit-logged exception.
    async with app.engine.sessions() as session, session.begin():
        await rounds.create_round(
            session,
            province=app.settings.ocop.province,
            name="Đợt 2/2025",
            submit_deadline=dt.date(2025, 10, 20),
            meeting_date=None,
            now=app.engine.clock(),
        )
        await staff.create_invite(
            session,
            code=INVITE_CODE,
            role=Role.COMMUNE.value,
            province=app.settings.ocop.province,
            commune_code=code,
            created_by=None,
            now=app.engine.clock(),
            valid_for=dt.timedelta(days=7),
        )
    await make_staff(app, "commune", Role.COMMUNE, commune_code=code, channel=channel)
    await make_staff(app, "province", Role.PROVINCE, channel=channel)
    await make_staff(app, "admin", Role.ADMIN, channel=channel)
    # Another producer asked for their data to be deleted: the admin sees the request and may hold it.
    asking = await make_producer(app, "asking", channel=channel, name="HTX Xin Xoá")
    async with app.engine.sessions() as session, session.begin():
        now = app.engine.clock()
        await privacy.create_request(session, asking, source="chat", now=now, deadline=dt.timedelta(hours=72))


async def _council_states(app: App, producer: int, round_id: int, channel: str) -> None:
    """What the province and the commune act on after the council: a dossier with three members' sheets, one
    scored (a certificate to issue, a result to correct), one certified (a decision to upload, a revocation),
    and one at the commune with three criteria confirmed (the fourth drafts the report, the scan follows)."""
    from storage import certificates, council
    from storage.models import CommuneCriterion

    now = app.engine.clock()
    scheduled = await make_dossier(app, producer, status=S.SCHEDULED, name="Thảo quả sấy", round_id=round_id)
    scored = await make_dossier(app, producer, status=S.SCORED, name="Chè đắng", round_id=round_id)
    certified = await make_dossier(app, producer, status=S.CERTIFIED_4, name="Rượu ngô", round_id=round_id)
    # In another commune, whose officer has only this one to review: three criteria confirmed already.
    other = await make_producer(app, "producer2", channel=channel, name="HTX Phong Thổ", commune=PHONG_THO)
    reviewing = await make_dossier(app, other, status=S.COMMUNE_REVIEW, name="Chè Shan")
    await make_staff(app, "commune2", Role.COMMUNE, commune_code=commune_code(app, PHONG_THO), channel=channel)
    async with app.engine.sessions() as session, session.begin():
        for n, role in enumerate(("chair", "member", "secretary")):
            member = await council.add_member(
                session, round_id=round_id, name=f"Thành viên {n}", name_folded=f"thanh vien {n}", role=role, now=now
            )
            await council.save_sheet(
                session,
                dossier_id=scheduled,
                member_id=member.id,
                points=(30 + n, 20, 25),
                source="chat",
                recorded_by=None,
                now=now,
            )
        await certificates.save_result(
            session,
            dossier_id=scored,
            points=(32, 20, 25),
            mandatory_ok=True,
            stars=4,
            rule_set="QD148_1489",
            recorded_by=None,
            now=now,
            sheet_count=3,
        )
        await certificates.save_result(
            session,
            dossier_id=certified,
            points=(32, 20, 25),
            mandatory_ok=True,
            stars=4,
            rule_set="QD148_1489",
            recorded_by=None,
            now=now,
            sheet_count=3,
        )
        await certify(app, session, certified, public_code="WALK2345")
        for criterion in ("local_origin", "local_labour", "idea_origin"):
            session.add(CommuneCriterion(dossier_id=reviewing, criterion=criterion, status="confirmed", decided_at=now))


async def _file_in_item(app: App, producer_user: int, dossier_id: int, code: str) -> None:
    async with app.engine.sessions() as session, session.begin():
        item_id = await session.scalar(
            select(DossierItem.id).where(DossierItem.dossier_id == dossier_id, DossierItem.code == code)
        )
        assert item_id is not None
        store = FileStore(app.settings.ocop.files_dir)
        sha, path = await store.put(files.pdf(9000 + dossier_id), "pdf")
        relative = str(path.relative_to(store.root))
        stored = await dossiers.stored_file(
            session, sha256=sha, size=path.stat().st_size, mime="application/pdf", path=relative
        )
        await dossiers.link_file(
            session, item_id, stored.id, original_name="dkkd.pdf", uploaded_by=producer_user, now=app.engine.clock()
        )


async def _imported_producer(app: App) -> None:
    """A producer imported from the province's list with the newcomer's phone: onboarding offers the claim."""
    from bot.text import fold
    from storage.models import Producer, User

    async with app.engine.sessions() as session, session.begin():
        user = User(locale="vi", display_name="[import] HTX Mật ong", phone="0912345678", created_at=app.engine.clock())
        session.add(user)
        await session.flush()
        session.add(
            Producer(
                user_id=user.id,
                kind="htx",
                name="HTX Mật ong Bình Lư",
                name_folded=fold("HTX Mật ong Bình Lư"),
                commune_code=commune_code(app, BINH_LU),
                commune_name="Xã Bình Lư",
            )
        )


def _record_asks(walk: Walk) -> None:
    """Note every step whose question is asked (some end their flow at once, like the status report)."""
    for name, flow in walk.engine.registry.flows.items():
        for step, ask in list(flow.asks.items()):
            flow.asks[step] = _recording(walk, name, step, ask)


def _recording(walk: Walk, name: str, step: str, ask: Step) -> Step:
    async def recorded(ctx: Context) -> None:
        walk.asked.add((name, step))
        await ask(ctx)

    return recorded


def _renderer(app: App, channel: str) -> Callable[[list[Outbound]], list[str]]:
    if channel == "console":
        return lambda replies: [
            console.render(reply, numbered=numbered)
            for reply, numbered in zip(replies, numbered_messages(replies), strict=True)
        ]
    zalo = ZaloBotChannel(_NoEngine(), ZaloBotClient("0:unused", "http://127.0.0.1:9"), app.settings)
    return lambda replies: [
        zalo.render_one(reply, numbered=numbered)
        for reply, numbered in zip(replies, numbered_messages(replies), strict=True)
    ]


class _NoEngine:
    async def handle(self, inbound: Inbound) -> list[Outbound]:  # pragma: no cover - rendering only
        raise AssertionError("the walk talks to the engine directly")


@pytest.mark.parametrize("channel", CHANNELS)
async def test_every_option_of_every_step_by_number_and_by_words(app: App, channel: str) -> None:
    if app.db.dialect.name != "sqlite":
        pytest.skip("the walk compares ids of rows made and rolled back; PostgreSQL sequences do not roll back")
    await _setup(app, channel)
    async with app.db.connect() as connection:
        await connection.begin()
        sessions = async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        engine = Engine(sessions, app.engine.registry, app.settings, app.engine.files, clock=app.engine.clock)
        walk = Walk(channel, engine, connection, _renderer(app, channel))
        _record_asks(walk)
        for user, starts in STARTS.items():
            for start in starts:
                async with walk.attempt():
                    await explore(walk, user, await walk.act(user, start), 0)
        await connection.rollback()
    # Files asked for on the way (Excel, ZIP) are built in the background on connections of their own.
    await asyncio.gather(*office_jobs.RUNNING)
    every_step = {(name, step) for name, flow in app.engine.registry.flows.items() for step in flow.asks}
    missing = sorted(every_step - walk.asked)
    assert not missing, f"steps the walk never reached (add an answer to ANSWERS or data to _setup): {missing}"
    assert not walk.problems, "\n".join(walk.problems)
    assert walk.checked > 100
