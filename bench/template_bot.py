"""The usual aiogram template bot, a second baseline for ``bench.throughput``.

What most aiogram bots look like: a middleware opens a SQLAlchemy session per update, the handler gets or
creates the user (ORM, committed when created), keeps its FSM state in aiogram's memory storage and replies
with an inline keyboard. One reply per update, like the echo bot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.types import User as TelegramUser
from sqlalchemy import BigInteger, DateTime, MetaData, String
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class _Base(DeclarativeBase):
    metadata = MetaData()  # its own table, next to ours in the same database


class TemplateUser(_Base):
    __tablename__ = "template_users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the Telegram user id
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Menu(StatesGroup):
    main = State()
    browsing = State()


KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="🔎 Status", callback_data="m:status")],
        [InlineKeyboardButton(text="📂 Dossier", callback_data="m:dossier")],
    ]
)


class DbSession(BaseMiddleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            return await handler(event, data)


async def get_or_create(session: AsyncSession, sender: TelegramUser) -> TemplateUser:
    user = await session.get(TemplateUser, sender.id)
    if user is None:
        user = TemplateUser(id=sender.id, name=sender.full_name, created_at=dt.datetime.now(dt.UTC))
        session.add(user)
        await session.commit()
    return user


async def create_users(engine: AsyncEngine, user_ids: list[int]) -> None:
    """The table, with users who wrote before (like ours, onboarded): concurrent first messages of one user
    would race the template's get-or-create into a duplicate key, a bug most templates have."""
    async with engine.begin() as connection:
        await connection.run_sync(_Base.metadata.create_all)
    async with async_sessionmaker(engine)() as session, session.begin():
        now = dt.datetime.now(dt.UTC)
        session.add_all(TemplateUser(id=user_id, name=f"HTX {user_id}", created_at=now) for user_id in user_ids)


def template_dispatcher(sessions: async_sessionmaker[AsyncSession], outermost: BaseMiddleware) -> Dispatcher:
    """``outermost``: a middleware wrapped around everything else (the bench's timing)."""
    router = Router()

    @router.message()
    async def on_message(message: Message, session: AsyncSession, state: FSMContext) -> None:
        if message.from_user is None:
            return
        user = await get_or_create(session, message.from_user)
        await state.set_state(Menu.main)
        await message.answer(f"Xin chào {user.name}! Bạn cần gì?", reply_markup=KEYBOARD)

    @router.callback_query()
    async def on_press(query: CallbackQuery, session: AsyncSession, state: FSMContext) -> None:
        await query.answer()
        user = await get_or_create(session, query.from_user)
        await state.set_state(Menu.browsing)
        await state.update_data(last=query.data)
        if query.message is not None:
            await query.message.answer(f"{user.name}: {query.data}", reply_markup=KEYBOARD)

    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(outermost)
    dispatcher.update.outer_middleware(DbSession(sessions))
    dispatcher.include_router(router)
    return dispatcher
