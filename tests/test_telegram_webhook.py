"""Telegram in webhook mode: our webhook server registers itself with the fake Bot API, which then posts
updates to it as Telegram would — with and without the secret, twice, out of order across users."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot import webhook_cli
from bot.app import App
from bot.channels.telegram_webhook import TelegramWebhook, webhook_secret
from bot.channels.update_queue import KeyedQueue
from bot.channels.webhook import run_zalo
from bot.settings import Settings
from storage.models import ProcessedUpdate
from tests.fakes.server import free_port
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

USERS = (7101, 7102, 7103)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake
        assert not fake.unknown_calls, f"the bot called methods the fake does not know: {fake.unknown_calls}"


def webhook_settings(settings: Settings, api: FakeBotAPI, port: int, **extra: Any) -> Settings:
    return settings.replaced(
        **{
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_base": api.base_url,
            "telegram_webhook_url": f"http://127.0.0.1:{port}/webhook/telegram",
            "telegram_webhook_max_connections": 7,
            "webhook_host": "127.0.0.1",
            "webhook_port": port,
            **extra,
        }
    )


@dataclass
class Server:
    api: FakeBotAPI
    webhook: TelegramWebhook
    stop: asyncio.Event


@pytest.fixture
async def server(app: App, settings: Settings, api: FakeBotAPI) -> AsyncIterator[Server]:
    """``run_zalo`` as ``ocop-bot run`` starts it in webhook mode (no Zalo configured): it serves, then
    registers the webhook; the test waits for setWebhook before delivering."""
    config = webhook_settings(settings, api, free_port("127.0.0.1"))
    webhook = TelegramWebhook(app.engine, config)
    stop = asyncio.Event()
    task = asyncio.create_task(run_zalo(app, config, stop, telegram=webhook))
    try:
        await api.wait_for_calls("setWebhook", 1)
        yield Server(api, webhook, stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def processed(app: App) -> int:
    async with app.engine.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0)


async def test_set_webhook_registers_url_secret_updates_and_connections(server: Server) -> None:
    registered = server.api.webhook
    assert registered["url"] == server.webhook.url
    assert registered["secret_token"] == server.webhook.secret and len(server.webhook.secret) >= 32
    assert registered["allowed_updates"] == ["callback_query", "message"]  # what the router handles, no more
    assert registered["max_connections"] == 7


async def test_an_update_with_the_secret_is_answered(server: Server) -> None:
    api = server.api
    assert await api.deliver(api.make_text(USERS[0], "/start")) == 200
    replies = await api.wait_for_replies(USERS[0], 1)
    assert replies[0].params["text"]


@pytest.mark.parametrize("secret", [None, "", "wrong", "registered-but-one-letter-off"])
async def test_forged_or_missing_secret_is_refused_and_nothing_is_processed(
    app: App, server: Server, secret: str | None
) -> None:
    api = server.api
    if secret == "registered-but-one-letter-off":
        secret = server.webhook.secret[:-1] + ("0" if server.webhook.secret[-1] != "0" else "1")
    assert await api.deliver(api.make_text(USERS[0], "/start"), secret=secret) == 401
    await asyncio.sleep(0.3)
    assert api.replies_to(USERS[0]) == []
    assert await processed(app) == 0


async def test_a_duplicated_update_is_handled_once(app: App, server: Server) -> None:
    api = server.api
    update = api.make_text(USERS[0], "/start")
    assert await api.deliver(update) == 200
    await api.wait_for_replies(USERS[0], 1)
    settled = len(api.replies_to(USERS[0]))
    # Telegram redelivers what it did not see answered: twice more, once while the first is still fresh.
    assert await api.deliver(update) == 200
    assert await api.deliver(update) == 200
    await asyncio.sleep(0.5)
    assert len(api.replies_to(USERS[0])) == settled
    assert await processed(app) == 1


async def test_updates_out_of_order_across_users_keep_each_users_order(app: App, server: Server) -> None:
    """Three users onboard at once; their updates arrive interleaved and in a shuffled user order, each
    user's own in order (as Telegram guarantees per chat). Every user ends where a lone user would."""
    api = server.api
    script = ["/start", "1", "0912345678", "2"]
    for step, text in enumerate(script):
        order = USERS if step % 2 == 0 else tuple(reversed(USERS))
        statuses = await asyncio.gather(*(api.deliver(api.make_text(user, text)) for user in order))
        assert statuses == [200, 200, 200]
        await settled(app, server, len(USERS) * (step + 1))  # like people: the next message after the answer
    texts = {user: [call.params.get("text") for call in api.replies_to(user)] for user in USERS}
    assert texts[USERS[0]] == texts[USERS[1]] == texts[USERS[2]]
    assert await processed(app) == len(USERS) * len(script)


async def settled(app: App, server: Server, updates: int) -> None:
    """Wait until ``updates`` updates are committed and their replies sent."""
    for _ in range(200):
        if await processed(app) >= updates:
            await server.webhook.channel.drain()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {await processed(app)} of {updates} updates processed")


async def test_a_full_queue_refuses_with_503_and_the_redelivery_is_handled(
    app: App, settings: Settings, api: FakeBotAPI
) -> None:
    """One slot, a held worker: the next update is refused with 503 and Retry-After; once room frees up,
    Telegram's redelivery of the same update is taken and answered."""
    config = webhook_settings(
        settings, api, free_port("127.0.0.1"), webhook_queue_limit=1, webhook_workers=1, webhook_queue_per_user=1
    )
    webhook = TelegramWebhook(app.engine, config)
    gate = asyncio.Event()
    original = webhook.process

    async def slow(update: Any) -> None:
        await gate.wait()
        await original(update)

    webhook.process = slow  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(run_zalo(app, config, stop, telegram=webhook))
    try:
        await api.wait_for_calls("setWebhook", 1)
        first, second = api.make_text(USERS[0], "/start"), api.make_text(USERS[1], "/start")
        assert await api.deliver(first) == 200
        assert await api.deliver(second) == 503
        gate.set()
        await api.wait_for_replies(USERS[0], 1)
        assert await api.deliver(second) == 200  # Telegram's retry
        await api.wait_for_replies(USERS[1], 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


# The queue on its own ---------------------------------------------------------------------------------------
async def test_queue_keeps_per_key_order_limits_work_in_flight_and_refuses_when_full() -> None:
    queue = KeyedQueue(2, limit=6, per_key=3)
    running = 0
    most = 0
    seen: dict[str, list[int]] = {}

    def job(key: str, number: int) -> Any:
        async def run() -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.02)
            seen.setdefault(key, []).append(number)
            running -= 1

        return run

    accepted = [queue.put("a", job("a", n)) for n in range(4)]  # three of one user wait; a fourth: no
    assert accepted == [True, True, True, False]
    assert [queue.put(k, job(k, 0)) for k in ("b", "c", "d", "e")] == [True, True, True, False]  # 6 in all
    assert len(queue) == 6 and queue.refused == 2
    await asyncio.wait_for(queue.join(), 5)
    assert seen["a"] == [0, 1, 2]
    assert most == 2
    assert len(queue) == 0
    assert queue.put("e", job("e", 0))  # room again
    await queue.close()


def test_secret_is_stable_per_token_and_configurable(settings: Settings) -> None:
    one = settings.replaced(telegram_bot_token=SecretStr(TOKEN))
    other = settings.replaced(telegram_bot_token=SecretStr("999:other"))
    assert webhook_secret(one) == webhook_secret(one.model_copy()) != webhook_secret(other)
    chosen = one.replaced(telegram_webhook_secret=SecretStr("my_Secret-123"))
    assert webhook_secret(chosen) == "my_Secret-123"
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        webhook_secret(one.replaced(telegram_webhook_secret=SecretStr("has space")))


# ocop-bot webhook ---------------------------------------------------------------------------------------------
def webhook_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    webhook_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["webhook", *argv])


async def test_webhook_command_sets_shows_and_deletes(settings: Settings, api: FakeBotAPI) -> None:
    config = webhook_settings(settings, api, 8443)
    out = io.StringIO()
    assert await webhook_cli.execute(webhook_args("set"), config, out) == 0
    assert api.webhook["url"] == config.telegram.webhook_url
    assert api.webhook["secret_token"] == webhook_secret(config)
    assert api.webhook["allowed_updates"] == ["callback_query", "message"]
    api.push_text(USERS[0], "waiting")  # held by Telegram while nobody takes it

    assert await webhook_cli.execute(webhook_args("info"), config, out) == 0
    shown = out.getvalue()
    assert f"url: {config.telegram.webhook_url}" in shown
    assert "pending updates: 1" in shown and "max connections: 7" in shown
    assert "callback_query, message" in shown
    assert webhook_secret(config) not in shown  # the secret is never printed

    assert await webhook_cli.execute(webhook_args("delete", "--drop-pending"), config, out) == 0
    assert api.webhook == {}
    assert api.calls_of("deleteWebhook")[-1].params.get("drop_pending_updates") in ("true", "True", True)


async def test_webhook_set_without_a_url_says_so(settings: Settings, api: FakeBotAPI) -> None:
    config = webhook_settings(settings, api, 8443, telegram_webhook_url=None)
    assert await webhook_cli.execute(webhook_args("set"), config, io.StringIO()) == 2
    assert api.calls_of("setWebhook") == []
