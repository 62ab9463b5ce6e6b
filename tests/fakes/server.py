"""What the fake servers share: a free local port, and an aiohttp app started on it."""

from __future__ import annotations

import socket

from aiohttp import web


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def start_app(app: web.Application, host: str) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on a free port of ``host``; the caller cleans the runner up when done."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port(host)
    await web.TCPSite(runner, host, port).start()
    return runner, port
