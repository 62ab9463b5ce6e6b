"""The production files: docker-compose.yml, Caddyfile, .env.example and the Dockerfile.

There is no Docker engine on the development machines, so the image is not built here: the compose file is
validated by ``docker compose config`` where the client has the compose plugin (skipped with the reason
otherwise), and its structure, the Dockerfile's stages and .env.example's completeness are checked always.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parent.parent
# Settings that exist only for docker compose (Caddy and the PostgreSQL container), not for the bot.
COMPOSE_ONLY = {"BOT_DOMAIN", "ACME_EMAIL", "POSTGRES_PASSWORD"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        found = re.match(r"^#?\s?([A-Z][A-Z0-9_]+)=", line)
        if found:
            names.add(found.group(1))
    return names


def test_compose_runs_postgres_the_bot_and_caddy() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "bot", "caddy"}

    db = services["db"]
    assert db["image"].startswith("postgres:16")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    bot = services["bot"]
    assert bot["build"] == "."
    command = " ".join(bot["command"])
    assert command.index("ocop-bot migrate") < command.index("ocop-bot run")  # migrate, then run
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://ocop:${POSTGRES_PASSWORD}@db:5432/")
    assert bot["environment"]["TELEGRAM_WEBHOOK_URL"].startswith("https://${BOT_DOMAIN")  # webhook mode
    assert "/readyz" in " ".join(bot["healthcheck"]["test"])
    assert any(volume.endswith(":/data") for volume in bot["volumes"])
    assert all(port.startswith("127.0.0.1:") for port in bot.get("ports", []))  # metrics never public

    caddy = services["caddy"]
    assert caddy["image"].startswith("caddy:2")
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert caddy["environment"]["BOT_DOMAIN"].startswith("${BOT_DOMAIN")
    assert caddy["depends_on"]["bot"]["condition"] == "service_healthy"
    assert set(compose()["volumes"]) >= {"pgdata", "botdata", "caddy_data"}


def test_caddy_serves_the_domain_and_forwards_only_webhooks_and_health() -> None:
    caddyfile = (ROOT / "Caddyfile").read_text(encoding="utf-8")
    assert "{$BOT_DOMAIN} {" in caddyfile
    assert "handle /webhook/* {\n\t\treverse_proxy bot:8080" in caddyfile
    forwarded = re.findall(r"handle (\S+) \{\n\t\treverse_proxy", caddyfile)
    assert forwarded == ["/webhook/*", "/healthz"]  # not /metrics, not /readyz


def test_env_example_names_every_setting_and_loads() -> None:
    names = env_example_names()
    settings = {name.upper() for name in ENVIRONMENT}
    assert sorted(settings - names) == [], "settings missing from .env.example"
    assert sorted(names - settings - COMPOSE_ONLY - {"TELEGRAM_WEBHOOK_URL"}) == [], "unknown names in .env.example"
    compose_variables = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    assert compose_variables <= names  # every ${VAR} compose reads is explained there
    loaded = Settings(_env_file=ROOT / ".env.example")  # a copied, unedited file starts (blank token = unset)
    assert loaded.telegram.token is None and loaded.log_format == "kv"


def _stages(dockerfile: str) -> list[tuple[str, str]]:
    """(stage name, its instructions) for each FROM."""
    parts = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    return [(part.split("\n", 1)[0].split(" AS ")[-1].strip(), part) for part in parts]


def test_dockerfile_is_multi_stage_non_root_without_dev_tools() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = _stages(dockerfile)
    assert [name for name, _body in stages] == ["build", "runtime"]
    build, runtime = stages[0][1], stages[1][1]
    assert "scripts/i18n compile" in build  # compiled catalogues
    assert "pip install -e ." in build and "[dev]" not in dockerfile
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert re.search(r"^USER ocop$", runtime, flags=re.MULTILINE)
    assert "useradd --system --uid 10001" in runtime
    for tool in ("pytest", "ruff", "mypy", "hypothesis", "gcc", "build-essential"):
        assert tool not in dockerfile
    assert "postgresql-client-${PG_MAJOR}" in runtime and "ARG PG_MAJOR=16" in dockerfile
    assert "apt-get purge -y curl" in runtime
    # Every COPY source exists in a clean clone (tracked by git).
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    top = {line.split("/", 1)[0] for line in tracked.splitlines()}
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.MULTILINE):
        for source in line.split()[:-1]:
            assert source in top, f"COPY {source}: not in the repository"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {".git", ".venv", ".env", "data", "tests"} <= set(ignored)


def _compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on this machine"
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "the docker client has no compose plugin (`docker compose version` fails)"
    return None


@pytest.mark.skipif(_compose_plugin() is not None, reason=str(_compose_plugin()))
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    for name in ("docker-compose.yml", "Caddyfile", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        ["docker", "compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed (Debian: apt-get install caddy)")
def test_caddy_validates_the_caddyfile() -> None:
    result = subprocess.run(
        ["caddy", "validate", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"],
        env={"BOT_DOMAIN": "bot.example.vn", "ACME_EMAIL": "it@example.vn", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr
