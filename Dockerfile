# tradeforge runtime image: a live (or paper) session and the web control plane.
# Build: docker build -t tradeforge .   Run: see docker/compose.yaml and README "Running in Docker".

# --- build: the package and its dependencies, at the versions requirements.lock pins ---------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
# the lock pins every version (core + extras); the image installs core + web under it
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --constraint requirements.lock ".[web]"

# --- runtime: no compilers, no sources, a non-root user, state on a volume -------------------
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --user-group tradeforge \
    && mkdir -p /data \
    && chown tradeforge:tradeforge /data
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh docker/healthcheck.sh /usr/local/bin/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRADEFORGE_HOME=/data/home \
    TRADEFORGE_STATE=/data/sessions/engine \
    TRADEFORGE_WEB_STATE_DIRS=/data/sessions \
    XDG_CACHE_HOME=/data/cache
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# healthy unless `tradeforge health` finds the session down (stopped, stuck, gone)
HEALTHCHECK --interval=30s --timeout=20s --start-period=120s --retries=3 CMD ["healthcheck.sh"]
ENTRYPOINT ["entrypoint.sh"]
CMD ["--help"]
