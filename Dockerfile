# The CSI dashboard as a container image. docs/DEPLOY.md describes running it (compose.yaml: the
# dashboard, the scheduled inbox ingest and nginx with TLS in front).
#
#   docker build -t csi-dashboard .
#   docker run --rm -v csi-data:/data \
#       -v "$PWD/secrets.toml:/app/.streamlit/secrets.toml:ro" -p 127.0.0.1:8501:8501 csi-dashboard
#
# Fails closed: CSI_REQUIRE_AUTH=1, so without users in the secrets file the entry point refuses to
# start (and the app itself would show no data). The entry point (deploy/entrypoint.py) checks the
# secrets with the app's own rules, migrates the store on the volume, then execs streamlit.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user: chown the data volume (and the secrets file) to uid 10001.
RUN groupadd --system --gid 10001 csi \
 && useradd --system --uid 10001 --gid csi --home-dir /home/csi --create-home --shell /usr/sbin/nologin csi

WORKDIR /app
# Dependencies first (their layer is reused while only the code changes), in the ranges requirements.txt pins.
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt

COPY pyproject.toml streamlit_app.py ./
COPY csi/ csi/
COPY app/ app/
COPY app_pages/ app_pages/
COPY .streamlit/config.toml .streamlit/config.toml
COPY deploy/entrypoint.py deploy/entrypoint.py
RUN python -m compileall -q csi app app_pages deploy \
 && mkdir -p /data /inbox \
 && chown csi:csi /data /inbox

ENV CSI_REQUIRE_AUTH=1 \
    CSI_DB=/data/csi.duckdb \
    CSI_CACHE_DIR=/data/.csi_cache \
    CSI_PORT=8501 \
    CSI_ADDRESS=0.0.0.0 \
    PYTHONPATH=/app \
    HOME=/home/csi

# The store (and the fit cache) live on the volume; the image holds no data and no secrets.
VOLUME ["/data"]
USER csi
EXPOSE 8501

# Streamlit's own health endpoint (/_stcore/health answers "ok"), through the entry script so
# CSI_PORT and CSI_BASE_PATH are honoured; no curl in the slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "/app/deploy/entrypoint.py", "--health"]

ENTRYPOINT ["python", "/app/deploy/entrypoint.py"]
