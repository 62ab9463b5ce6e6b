# Trợ lý OCOP. `docker compose up -d` (docker-compose.yml) runs it with PostgreSQL behind Caddy; alone:
#   docker build -t ocop-bot . && docker run -e TELEGRAM_BOT_TOKEN=… -v ocop-data:/data ocop-bot
#
# Two stages: the first installs the project and compiles the translation catalogues; the second holds only
# Python, the installed project, its compiled catalogues and the PostgreSQL client (for `ocop-bot backup`),
# and runs as an unprivileged user. No compiler, pip, test or lint tool reaches the final image.
ARG PYTHON_IMAGE=python:3.11-slim-trixie
# Keep in step with the PostgreSQL server (docker-compose.yml): pg_dump must not be older than the server,
# and pg_restore writes for its own major version.
ARG PG_MAJOR=16

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml README.md babel.cfg ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
COPY scripts ./scripts
# Editable on purpose: the code and the compiled catalogues stay in /app, where the runtime finds them.
RUN /opt/venv/bin/pip install -e . \
 && PYBABEL=/opt/venv/bin/pybabel scripts/i18n compile \
 && /opt/venv/bin/python -m compileall -q bot handlers storage \
 && /opt/venv/bin/pip uninstall -y pip \
 && rm -rf scripts

FROM ${PYTHON_IMAGE} AS runtime
ARG PG_MAJOR
# postgresql-client-${PG_MAJOR} from the PostgreSQL project's own Debian repository (Debian ships one
# version only); the download tools are removed again in the same layer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && . /etc/os-release \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-${PG_MAJOR} \
 && apt-get purge -y curl && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data ocop \
 && mkdir -p /data /backups && chown ocop /data /backups

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/ocop.db \
    OCOP_DATA_DIR=/data \
    LOG_FORMAT=json
WORKDIR /app
USER ocop
VOLUME ["/data"]
EXPOSE 8080
CMD ["ocop-bot", "run"]
