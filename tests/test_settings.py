"""Settings read from the environment the way the README documents them."""

from __future__ import annotations

import pytest

from assistant.settings import Settings


@pytest.mark.parametrize(
    ("raw", "models"),
    [("a/one, b/two", ["a/one", "b/two"]), ('["a/one", "b/two"]', ["a/one", "b/two"]), ("", [])],
)
def test_fallback_models_take_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, models: list[str]
) -> None:
    monkeypatch.setenv("FIBRO_FALLBACK_MODELS", raw)
    assert Settings(_env_file=None).fallback_models == models  # type: ignore[call-arg]


def test_data_folders_are_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FIBRO_DATA_DIR", "FIBRO_CORPUS_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not settings.data_dir.is_absolute() and settings.data_dir.name == "data"
    assert not settings.corpus_dir.is_absolute() and settings.corpus_dir.name == "corpus"
