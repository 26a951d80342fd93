"""The README's settings table, `.env.example` and `fibro config` agree with `Settings`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import cli
from assistant.manage import MASK, effective_settings
from assistant.settings import Settings, get_settings
from assistant.settings_doc import (
    ENV_EXAMPLE,
    README,
    env_name,
    readme_table,
    render_env_example,
    render_table,
)

FIX = "run `python -m assistant.settings_doc` and commit the result"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, info in Settings.model_fields.items() if not info.description]
    assert not missing, f"give these fields a description in assistant/settings.py: {missing}"


def test_readme_table_matches_settings() -> None:
    table = readme_table(README.read_text(encoding="utf-8"))
    assert table is not None, "README.md lost its settings-table markers"
    assert table == render_table(), f"README.md's settings table is out of date: {FIX}"


def test_readme_table_names_every_setting_and_no_other() -> None:
    table = readme_table(README.read_text(encoding="utf-8")) or ""
    documented = set(re.findall(r"`(FIBRO_[A-Z0-9_]+)`", table))
    assert documented == {env_name(name) for name in Settings.model_fields}


def test_env_example_matches_settings() -> None:
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == render_env_example(), FIX
    lines = [line for line in render_env_example().splitlines() if line.strip()]
    assert all(line.startswith("#") for line in lines), "everything in .env.example is commented"
    for name in Settings.model_fields:
        assert f"# {env_name(name)}=" in render_env_example()


def test_env_example_defaults_parse_back_to_the_defaults(tmp_path: Path) -> None:
    # Uncommented, every line with a value is a valid .env that reproduces the defaults.
    active = [
        line[2:]
        for line in render_env_example().splitlines()
        if line.startswith("# FIBRO_") and not line.endswith("=")
    ]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(active) + "\n")
    read = Settings(_env_file=env_file)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in Settings.model_fields:
        if Settings.model_fields[name].default_factory is None:
            assert getattr(read, name) == getattr(defaults, name), name


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No developer .env or FIBRO_ variables; get_settings reads afresh."""
    monkeypatch.chdir(tmp_path)
    import os

    for name in list(os.environ):
        if name.upper().startswith(("FIBRO_", "LANGFUSE_")):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_config_names_where_each_value_came_from(
    clean_settings: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIBRO_TOP_K", "9")
    (tmp_path / ".env").write_text("FIBRO_CANDIDATES=40\nFIBRO_TOP_K=3\n")
    rows = {row.variable: row for row in effective_settings()}
    assert (rows["FIBRO_TOP_K"].value, rows["FIBRO_TOP_K"].source) == ("9", "environment")
    assert (rows["FIBRO_CANDIDATES"].value, rows["FIBRO_CANDIDATES"].source) == ("40", ".env file")
    assert (rows["FIBRO_RRF_K"].value, rows["FIBRO_RRF_K"].source) == ("60", "default")
    assert set(rows) == {env_name(name) for name in Settings.model_fields}


def test_fibro_config_masks_secrets(
    clean_settings: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIBRO_API_KEY", "sk-very-secret-value")
    monkeypatch.setenv("FIBRO_SLACK_BOT_TOKEN", "xoxb-also-secret")
    monkeypatch.setenv("FIBRO_DATABASE_URL", "postgresql+psycopg://fibro:hunter2@db/fibro")
    monkeypatch.setenv("FIBRO_MODEL", "openai/gpt-4o-mini")
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "sk-very-secret-value" not in out and "xoxb-also-secret" not in out
    assert "hunter2" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert MASK in lines["FIBRO_API_KEY"] and lines["FIBRO_API_KEY"].endswith("(environment)")
    assert MASK in lines["FIBRO_SLACK_BOT_TOKEN"]
    assert "openai/gpt-4o-mini" in lines["FIBRO_MODEL"]
    assert lines["FIBRO_SLACK_APP_TOKEN"].split()[1] == "unset"
    assert lines["FIBRO_TOP_K"].endswith("(default)")
