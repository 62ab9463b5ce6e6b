# Trợ lý OCOP — `docker build -t ocop-bot . && docker run -e TELEGRAM_BOT_TOKEN=… -v ocop-data:/data ocop-bot`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/ocop.db \
    OCOP_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md babel.cfg ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
RUN pip install -e . \
 && pybabel compile -d locales -D messages \
 && useradd --system --uid 10001 --home-dir /data ocop \
 && mkdir -p /data && chown ocop /data

USER ocop
VOLUME ["/data"]
CMD ["ocop-bot", "run"]
