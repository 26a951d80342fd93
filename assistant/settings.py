"""One settings object for every knob; nothing else reads the environment.

Values come from environment variables prefixed ``FIBRO_`` and an optional ``.env`` file,
for example ``FIBRO_DATA_DIR=/var/lib/fibro`` or ``FIBRO_MODEL=openai/gpt-4o-mini``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The source checkout, for the tests and benchmarks that live beside the package. Never a default
# for data: an installed package would write its index into site-packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``FIBRO_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="FIBRO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Where things live.
    # Relative to the working directory, as the README documents (`./data`, `./corpus`).
    data_dir: Path = Field(default=Path("data"), description="Index folder (embedded Chroma).")
    corpus_dir: Path = Field(default=Path("corpus"), description="Default ingest input.")
    collection: str = Field(default="fibro_chunks", description="Chroma collection name.")
    chroma_host: str | None = Field(
        default=None, description="Use a Chroma server instead of the folder."
    )
    # Not 8000: that is `fibro serve`'s port and `chroma run`'s default (run it with --port 8001).
    chroma_port: int = Field(
        default=8001, ge=1, le=65535, description="Port of that Chroma server."
    )

    # Embedding.
    embedding_model_path: Path | None = Field(
        default=None, description="sentence-transformers folder; default: the bundled MiniLM."
    )
    embed_batch_size: int = Field(
        default=64, ge=1, le=1024, description="Texts embedded per batch during ingest."
    )

    # Chunking.
    chunk_min_words: int = Field(default=80, ge=10, description="Shortest chunk, in words.")
    chunk_max_words: int = Field(default=250, ge=20, description="Longest chunk, in words.")
    chunk_overlap_sentences: int = Field(
        default=1, ge=0, le=3, description="Sentences repeated between neighbouring chunks."
    )

    # Retrieval.
    top_k: int = Field(default=6, ge=1, le=50, description="Passages per answer.")
    candidates: int = Field(
        default=30, ge=5, le=200, description="Per-retriever pool before fusion."
    )
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="Reciprocal-rank-fusion constant (larger: ranks count more evenly).",
    )
    max_chunks_per_source: int = Field(default=2, ge=1, description="Passages per source in top-k.")
    relevance_floor: float = Field(
        default=0.30, description="Minimum cosine similarity of the best passage to answer at all."
    )
    index_refresh_seconds: float = Field(
        default=2.0, ge=0.0, description="How often a reader checks for a newer index generation."
    )

    # Composition and verification.
    model: str | None = Field(
        default=None,
        description="Any litellm model (openai/gpt-4o-mini, ollama/llama3, ...); unset = extractive.",
    )
    # NoDecode: `a,b` from the environment is split by the validator instead of read as JSON.
    fallback_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="litellm models tried in order when FIBRO_MODEL fails (comma-separated).",
    )
    api_base: str | None = Field(
        default=None,
        description="Provider endpoint, e.g. an OpenAI-compatible server for `openai/NAME` models.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Provider key (provider variables such as OPENAI_API_KEY also work).",
    )
    llm_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Time one answer may spend on the model: all retries and fallbacks together.",
    )
    llm_retries: int = Field(
        default=1,
        ge=0,
        le=5,
        description="Retries of a failed model call before the next fallback.",
    )
    llm_temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Sampling temperature of the composer model."
    )
    llm_max_tokens: int = Field(
        default=700, ge=64, description="Most tokens a composed answer may use."
    )
    # Calibrated on tests/data/support_calibration.jsonl (docs/VERIFICATION.md).
    support_threshold: float = Field(
        default=0.65,
        ge=0.0,
        le=1.0,
        description="A sentence is kept when its cited passages support it at least this well.",
    )
    safety_model_check: bool = Field(
        default=False,
        description="Also ask the model whether a message is a crisis or emergency (raises only).",
    )
    safety_model: str | None = Field(
        default=None, description="litellm model for the safety check; default: FIBRO_MODEL."
    )
    safety_check_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Timeout of the model's safety check (a failure changes nothing).",
    )
    min_verified_sentences: int = Field(
        default=2,
        ge=1,
        description="Fewest cited model sentences that must pass verification; fewer: extractive.",
    )
    extractive_sentences: int = Field(
        default=5, ge=1, le=12, description="Most source sentences in an extractive answer."
    )

    # Service.
    host: str = Field(default="127.0.0.1", description="Address `fibro serve` listens on.")
    port: int = Field(default=8000, description="Port `fibro serve` listens on.")
    max_question_chars: int = Field(
        default=2000, ge=10, description="Longest question or message accepted (longer: a 413)."
    )
    max_concurrent_answers: int = Field(
        default=4, ge=1, description="Answers computed at once; more wait in a queue."
    )
    queue_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long a request may wait for a slot before a 503."
    )
    max_queued_answers: int = Field(
        default=32,
        ge=0,
        description="Requests that may wait for an answer slot; when full, a 503 at once.",
    )
    max_body_bytes: int = Field(
        default=262_144, ge=1024, description="Largest request body accepted (larger: a 413)."
    )
    breaker_failures: int = Field(
        default=3,
        ge=1,
        description="Model failures in a row after which answers skip the model for a while.",
    )
    breaker_cooldown_seconds: float = Field(
        default=60.0, gt=0, description="How long answers skip a failing model (extractive)."
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING or ERROR.")

    # Protection for a public service.
    # NoDecode: `a,b` from the environment is split by the validator instead of read as JSON.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys for the non-widget endpoints (Authorization: Bearer KEY; "
        "comma-separated); empty = open.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Proxy addresses or networks (CIDR) whose X-Forwarded-For is believed "
        "(comma-separated); empty = none.",
    )
    rate_per_minute: int = Field(
        default=30, ge=0, description="Questions one client address may ask a minute; 0 = no limit."
    )
    session_rate_per_minute: int = Field(
        default=20, ge=0, description="Questions one chat session may ask a minute; 0 = no limit."
    )
    rate_burst: int = Field(
        default=10, ge=1, description="Questions a client may ask at once before its rate applies."
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by several workers (rate limits, Slack dedupe, breaker); "
        "default: in-process.",
    )

    # Web widget (assistant/widget/). Pages on these origins may call the answer endpoints from a
    # browser; any other Origin gets a 403. Empty: only pages served by this service itself.
    # NoDecode: `a,b` from the environment is split by the validator instead of read as JSON.
    widget_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to embed the widget, e.g. https://clinic.example (comma-separated).",
    )

    # Feedback (assistant/feedback/): answers and their ratings, stored masked.
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the feedback store (postgresql+psycopg://...); "
        "default: SQLite at FIBRO_DATA_DIR/feedback.sqlite3.",
    )
    feedback_rate_per_minute: int = Field(
        default=30, ge=0, description="Feedback posts one client may make a minute; 0 = no limit."
    )

    # Tracing (Langfuse). Off unless both keys are set; Langfuse's own LANGFUSE_HOST,
    # LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are read when the FIBRO_ ones are unset.
    langfuse_host: str | None = Field(
        default_factory=lambda: _env("LANGFUSE_HOST") or _env("LANGFUSE_BASE_URL"),
        description="Langfuse server; default: Langfuse Cloud.",
    )
    langfuse_public_key: str | None = Field(
        default_factory=lambda: _env("LANGFUSE_PUBLIC_KEY"),
        description="Langfuse project public key; with the secret key, turns tracing on (LANGFUSE_PUBLIC_KEY also works).",
    )
    langfuse_secret_key: SecretStr | None = Field(
        default_factory=lambda: _secret(_env("LANGFUSE_SECRET_KEY")),
        description="Langfuse project secret key (LANGFUSE_SECRET_KEY also works).",
    )
    trace_content: bool = Field(
        default=False,
        description="Export the (masked) question and answer text; never for crisis routes.",
    )

    # Slack bot for support staff (assistant/slack/). HTTP mode (/slack/events) is on when the bot
    # token and signing secret are set; Socket Mode (`fibro slack`) needs the app-level token.
    slack_bot_token: SecretStr | None = Field(default=None, description="xoxb- bot token.")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Verifies that HTTP requests come from Slack."
    )
    slack_app_token: SecretStr | None = Field(default=None, description="xapp- Socket Mode token.")
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL (tests: a fake)."
    )
    slack_escalation_channel: str | None = Field(
        default=None, description="Channel id that 'Escalate to a human' posts to."
    )

    @field_validator("widget_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # FIBRO_WIDGET_ORIGINS=https://a.example,https://b.example or a JSON list; a trailing
        # slash is dropped because a browser's Origin header never has one.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            value = text.split(",")
        if isinstance(value, list | tuple):
            return [str(v).strip().rstrip("/") for v in value if str(v).strip()]
        return value

    @field_validator("api_keys", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        # A comma-separated string or a JSON list, blanks dropped.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [v.strip() for v in text.split(",") if v.strip()]
        return value

    @field_validator("fallback_models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        # Allow FIBRO_FALLBACK_MODELS=a,b as well as a JSON list.
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [m.strip() for m in value.split(",") if m.strip()]
        return value

    @field_validator(
        "model",
        "safety_model",
        "api_base",
        "chroma_host",
        "database_url",
        "langfuse_host",
        "langfuse_public_key",
        "langfuse_secret_key",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_escalation_channel",
        "redis_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def _env(name: str) -> str | None:
    """An environment variable, blank counting as unset (for the Langfuse fallbacks)."""
    value = os.environ.get(name, "").strip()
    return value or None


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def quiet_third_parties() -> None:
    """Stop libraries from phoning home: the service runs offline.

    Must run before sentence-transformers, transformers, chromadb or litellm are imported.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The model's own "Loading weights" bar is noise in a CLI; our ingest bar is separate.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
