# syntax=docker/dockerfile:1
# The xinfang service image: `xinfang run` as an unprivileged user, data in /data.
# docs/deploy.md explains building it, the compose file beside it and upgrades.
#
# The base image is pinned to an exact Python release; bump the tag deliberately (and
# rebuild monthly for Debian's security updates). Pin it by digest too
# (python:3.11.14-slim-bookworm@sha256:…) once you have pulled and reviewed it.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the package needs: no tests, benchmarks or local data in the image.
COPY pyproject.toml README.md ./
COPY petitions ./petitions
COPY handlers ./handlers
COPY storage ./storage
COPY i18n ./i18n
COPY bot ./bot
RUN python -m venv /opt/xinfang \
 && /opt/xinfang/bin/pip install --upgrade pip \
 && /opt/xinfang/bin/pip install '.[postgres]'

FROM python:3.11.14-slim-bookworm
# fonts-wqy-microhei: Chinese glyphs for the statistics chart (bot/stats_chart.py).
# postgresql-client-15: pg_dump/pg_restore for `xinfang backup` and `xinfang restore` on
# PostgreSQL (Debian bookworm's client is 15, the server's major version).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-microhei postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
# A fixed, non-root uid/gid so the data volume's owner is the same on every host.
RUN groupadd --system --gid 10001 xinfang \
 && useradd --system --uid 10001 --gid xinfang --home-dir /home/xinfang --create-home \
        --shell /usr/sbin/nologin xinfang \
 && install -d -o xinfang -g xinfang -m 0700 /data
COPY --from=build /opt/xinfang /opt/xinfang
ENV PATH=/opt/xinfang/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XINFANG_DATA_DIR=/data \
    XINFANG_HTTP_HOST=0.0.0.0 \
    XINFANG_HTTP_PORT=8080
USER xinfang:xinfang
# Build matplotlib's font cache now (it finds the WenQuanYi font), not on the first /stats.
RUN python -c "import matplotlib.font_manager"
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 while the process and its channels work (503 names a channel that
# stopped for good, e.g. a revoked bot token); urlopen raises on anything but 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c 'import os, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/healthz" % os.environ.get("XINFANG_HTTP_PORT", "8080"), timeout=4)' || exit 1
CMD ["xinfang", "run"]
