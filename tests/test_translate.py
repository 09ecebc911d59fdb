"""The translation stage on real (random-weight) Argos packages built at test time.

No mocks of CTranslate2 or SentencePiece: `argos_fixture` trains a SentencePiece model
and writes a real CTranslate2 Transformer; the output is gibberish, so the tests assert
on what a user notices — statuses, English fields, package recorded, caching, batching,
long-sentence splitting, nothing lost without a model.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from argos_fixture import build_tiny_package, corrupt_package

from pipeline.config import TranslateConfig
from pipeline.errors import IndexUnreachable, TranslateError
from pipeline.models import Article
from pipeline.packages import install_from_file, install_from_index, list_packages
from pipeline.sentences import split_paragraphs
from pipeline.translate import MemoryCache, Translator, translation_status

ROOT = Path(__file__).resolve().parents[1]
SEED_004 = ROOT / "tests" / "data" / "seeds" / "004_61c0a642c7b66a9a.txt"
IT_TEXT = SEED_004.read_text("utf-8")
ZH_TEXT = ("小米汽车将在北京经济技术开发区建设整车工厂，年产能三十万辆。雷军表示进展远超预期！\n"
           "工厂分两期建设；第一期产能十五万辆。")


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """it→en 1.0, it→en 1.1, zh→en 1.0 and a corrupt it→en, built once per session."""
    out = tmp_path_factory.mktemp("argosmodels")
    built = {
        "it": build_tiny_package(out / "it", "it", "en", "1.0"),
        "it-1.1": build_tiny_package(out / "it11", "it", "en", "1.1"),
        "zh": build_tiny_package(out / "zh", "zh", "en", "1.0"),
    }
    built["it-broken"] = corrupt_package(built["it"], out / "broken.argosmodel")
    return built


def make_config(package_dir: Path, **changes: Any) -> TranslateConfig:
    config = TranslateConfig(target="en", languages=("it", "zh"), package_dir=package_dir,
                             beam_size=2, threads=1, batch_tokens=4096,
                             max_sentence_tokens=200)
    return dataclasses.replace(config, **changes)


@pytest.fixture
def config(tmp_path: Path) -> TranslateConfig:
    return make_config(tmp_path / "packages")


@pytest.fixture
def installed(config: TranslateConfig, packages: dict[str, Path]) -> TranslateConfig:
    install_from_file(config, packages["it"])
    install_from_file(config, packages["zh"])
    return config


def article(lang: str, title: str, text: str, n: int = 0) -> Article:
    return Article(url=f"https://example.com/{lang}/{n}", source="test", title=title,
                   text=text, lang=lang)


class CountingModel:
    """Wraps a real ctranslate2.Translator and records every translate_batch call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[dict[str, Any]] = []

    def translate_batch(self, source: list[list[str]], **kwargs: Any) -> Any:
        results = self.model.translate_batch(source, **kwargs)
        self.calls.append({"source": source, "kwargs": kwargs,
                           "output_lengths": [len(r.hypotheses[0]) for r in results]})
        return results


def counting(translator: Translator, config: TranslateConfig, lang: str = "it") -> CountingModel:
    """Load the lang→en package now and wrap its CTranslate2 model in a counter."""
    info = translator.package_for(lang)
    assert info is not None
    loaded = translator._load(info)
    wrapper = CountingModel(loaded.model)
    loaded.model = wrapper
    return wrapper


# ----------------------------------------------------------------------- packages


def test_install_from_file_then_listed_with_languages_version_size(
        config: TranslateConfig, packages: dict[str, Path]) -> None:
    assert list_packages(config) == []
    info = install_from_file(config, packages["it"])
    listed = list_packages(config)
    assert listed == [info]
    assert (info.name, info.from_code, info.to_code, info.version) == (
        "translate-it_en", "it", "en", "1.0")
    assert info.key == "translate-it_en 1.0"
    assert info.size_bytes > 100_000  # model.bin, vocabulary, sentencepiece.model
    assert info.path.parent == config.package_dir
    assert (info.path / "model" / "model.bin").is_file()


def test_install_newer_version_replaces_the_pair(
        config: TranslateConfig, packages: dict[str, Path]) -> None:
    install_from_file(config, packages["it"])
    install_from_file(config, packages["zh"])
    install_from_file(config, packages["it-1.1"])
    listed = {(p.from_code, p.version) for p in list_packages(config)}
    assert listed == {("it", "1.1"), ("zh", "1.0")}


def test_install_rejects_files_that_are_not_packages(config: TranslateConfig,
                                                     tmp_path: Path) -> None:
    not_zip = tmp_path / "notes.argosmodel"
    not_zip.write_text("hello")
    with pytest.raises(TranslateError, match="not a zip"):
        install_from_file(config, not_zip)
    no_meta = tmp_path / "empty.argosmodel"
    with zipfile.ZipFile(no_meta, "w") as archive:
        archive.writestr("pkg/model/model.bin", b"x")
    with pytest.raises(TranslateError, match="metadata.json"):
        install_from_file(config, no_meta)
    with pytest.raises(TranslateError, match="no such file"):
        install_from_file(config, tmp_path / "missing.argosmodel")
    assert list_packages(config) == []


def test_install_from_index_offline_says_how_to_install_from_a_file(
        config: TranslateConfig) -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(IndexUnreachable) as caught:
        install_from_index(dataclasses.replace(config, index_url=f"http://127.0.0.1:{port}/"),
                           ["it"], timeout=5)
    message = str(caught.value)
    assert "cannot reach the Argos package index" in message
    assert "tidings models install --file PKG.argosmodel" in message
    assert list_packages(config) == []


def test_install_from_index_downloads_from_a_local_index(
        config: TranslateConfig, packages: dict[str, Path], tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(packages["zh"], served / "zh_en.argosmodel")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    index = [{"package_version": "1.0", "argos_version": "1.5", "from_code": "zh",
              "from_name": "Chinese", "to_code": "en", "to_name": "English",
              "links": [f"{base}/zh_en.argosmodel"]}]
    (served / "index.json").write_text(json.dumps(index))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        infos = install_from_index(dataclasses.replace(config, index_url=base + "/"), ["zh"])
    finally:
        server.shutdown()
    assert [(p.from_code, p.to_code, p.version) for p in infos] == [("zh", "en", "1.0")]
    assert list_packages(config) == infos


def test_import_is_cheap() -> None:
    code = ("import sys, pipeline.translate; "
            "print(sorted(m for m in ('ctranslate2', 'sentencepiece', 'argostranslate') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------------- translation


def test_italian_and_chinese_articles_are_translated(installed: TranslateConfig) -> None:
    translator = Translator(installed)
    it = article("it", "Xiaomi costruirà un impianto a Pechino", IT_TEXT)
    zh = article("zh", "小米汽车落户北京亦庄", ZH_TEXT)
    done_it, done_zh = translator.translate_articles([it, zh])
    for before, after, key in ((it, done_it, "translate-it_en 1.0"),
                               (zh, done_zh, "translate-zh_en 1.0")):
        assert after.translation_status == "done"
        assert after.translation_package == key
        assert after.translation_error is None
        assert after.title_en and after.title_en.strip()
        assert after.text_en and after.text_en.strip()
        # paragraphs kept; the original text untouched
        assert len(split_paragraphs(after.text_en)) == len(split_paragraphs(before.text))
        assert (after.title, after.text, after.url) == (before.title, before.text, before.url)
    assert translator.stats.articles_done == 2
    assert translator.stats.model_loads == 2  # one model per package …
    translator.translate_articles([article("it", "Un altro titolo", "Altro testo.", 9)])
    assert translator.stats.model_loads == 2  # … loaded once, reused


def test_english_is_not_needed_and_unconfigured_languages_fail_but_are_kept(
        installed: TranslateConfig) -> None:
    translator = Translator(installed)
    en = article("en", "Xiaomi builds a plant", "Xiaomi will build a plant.")
    ja = article("ja", "小米が工場を建設", "小米は北京に工場を建設する。")
    de = article("de", "Xiaomi baut ein Werk", "Xiaomi baut ein Werk in Peking.")
    out_en, out_ja, out_de = translator.translate_articles([en, ja, de])
    assert out_en.translation_status == "not_needed"
    assert out_en.english_text() == en.text
    for before, after, lang in ((ja, out_ja, "ja"), (de, out_de, "de")):
        assert after.translation_status == "failed"
        assert after.translation_error == (
            f"untranslatable by configuration: language '{lang}' is not in translate.languages")
        assert after.text == before.text and after.title == before.title
    assert translation_status("en", installed, True) == ("not_needed", None)
    assert translation_status("ja", installed, True)[0] == "failed"
    assert translation_status("it", installed, True) == ("pending", None)
    assert translation_status("zh-cn", installed, True) == ("pending", None)
    assert translation_status("en-gb", installed, False) == ("not_needed", None)


def test_without_a_package_articles_stay_pending_then_translate_after_install(
        config: TranslateConfig, packages: dict[str, Path]) -> None:
    translator = Translator(config)
    it = article("it", "Xiaomi costruirà un impianto", IT_TEXT)
    (pending,) = translator.translate_articles([it])
    assert pending.translation_status == "pending"
    assert (pending.title, pending.text) == (it.title, it.text)
    assert pending.title_en is None and pending.text_en is None
    assert "tidings models install" in (pending.translation_error or "")
    assert translation_status("it", config, False)[1] == pending.translation_error

    install_from_file(config, packages["it"])  # what `tidings translate` does after install
    (done,) = translator.translate_articles([pending])
    assert done.translation_status == "done"
    assert done.text_en and done.translation_error is None


def test_broken_package_fails_with_reason_and_keeps_the_article(
        config: TranslateConfig, packages: dict[str, Path]) -> None:
    install_from_file(config, packages["it-broken"])
    install_from_file(config, packages["zh"])
    translator = Translator(config)
    it = article("it", "Xiaomi costruirà un impianto", IT_TEXT)
    zh = article("zh", "小米汽车", ZH_TEXT)
    out_it, out_zh = translator.translate_articles([it, zh])
    assert out_it.translation_status == "failed"
    assert "translate-it_en 1.0" in (out_it.translation_error or "")
    assert (out_it.title, out_it.text) == (it.title, it.text)
    assert out_zh.translation_status == "done"  # the other package is unaffected

    install_from_file(config, packages["it"])  # a good package fixes it: failures retry
    (retried,) = Translator(config).translate_articles([out_it])
    assert retried.translation_status == "done" and retried.translation_error is None


def test_second_pass_is_served_by_the_cache(installed: TranslateConfig) -> None:
    cache = MemoryCache()
    translator = Translator(installed)
    articles = [article("it", "Xiaomi costruirà un impianto", IT_TEXT),
                article("zh", "小米汽车", ZH_TEXT, 1)]
    first = translator.translate_articles(articles, cache=cache)
    model_calls, translated = translator.stats.batches, translator.stats.translated
    assert translated > 0 and len(cache) == translated

    second = translator.translate_articles(articles, cache=cache)
    assert translator.stats.batches == model_calls  # no CTranslate2 call at all
    assert translator.stats.translated == translated
    assert translator.stats.cache_hits == translated
    assert [(a.title_en, a.text_en) for a in second] == [(a.title_en, a.text_en) for a in first]

    restarted = Translator(installed)  # a new process sharing the store's cache
    third = restarted.translate_articles(articles, cache=cache)
    assert restarted.stats.model_loads == 0 and restarted.stats.batches == 0
    assert [a.text_en for a in third] == [a.text_en for a in first]


def test_sentences_are_batched_across_articles_and_repeats_translated_once(
        installed: TranslateConfig) -> None:
    translator = Translator(installed)
    model = counting(translator, installed)
    boilerplate = "Riproduzione riservata."
    one = article("it", "Primo titolo", f"Xiaomi costruirà un impianto. {boilerplate}", 1)
    two = article("it", "Secondo titolo", f"Il PIL è cresciuto del 38,8%. {boilerplate}", 2)
    out = translator.translate_articles([one, two])
    assert [a.translation_status for a in out] == ["done", "done"]
    assert len(model.calls) == 1  # both articles in one translate_batch call
    # 2 titles + 2 distinct sentences + the shared one once
    assert len(model.calls[0]["source"]) == 5
    assert translator.stats.translated == 5
    kwargs = model.calls[0]["kwargs"]
    assert kwargs["batch_type"] == "tokens" and kwargs["beam_size"] == 2
    longest = max(len(s) for s in model.calls[0]["source"])
    assert kwargs["max_decoding_length"] <= 2 * longest + 10
    assert max(model.calls[0]["output_lengths"]) <= kwargs["max_decoding_length"]


def test_batches_respect_batch_tokens(installed: TranslateConfig) -> None:
    small = dataclasses.replace(installed, batch_tokens=64)
    translator = Translator(small)
    model = counting(translator, small)
    translator.translate_articles([article("it", "Titolo", IT_TEXT)])
    assert len(model.calls) > 1
    for call in model.calls:
        padded = max(len(s) + 1 for s in call["source"]) * len(call["source"])
        assert padded <= 64 or len(call["source"]) == 1


def test_long_sentence_is_split_into_chunks_never_truncated(
        installed: TranslateConfig) -> None:
    limit = 16
    config = dataclasses.replace(installed, max_sentence_tokens=limit)
    translator = Translator(config)
    model = counting(translator, config)
    words = ["stabilimento", "veicoli", "batteria", "produzione", "Pechino", "Xiaomi",
             "impianto", "auto", "elettriche", "catena", "montaggio"]
    long_sentence = " ".join(words[i % len(words)] for i in range(60)) + "."
    sp = translator._loaded[translator.package_for("it").path].sp  # type: ignore[union-attr]
    pieces = sp.encode(long_sentence, out_type=str)
    assert len(pieces) > 3 * limit

    (out,) = translator.translate_articles([article("it", "", long_sentence)])
    assert out.translation_status == "done"
    sources = model.calls[0]["source"]
    assert translator.stats.split_sentences == 1
    assert len(sources) == translator.stats.chunks >= -(-len(pieces) // limit)
    assert all(len(s) <= limit for s in sources)
    # every piece of the sentence went to the model exactly once, in some chunk
    assert sorted(p for s in sources for p in s) == sorted(pieces)
    assert out.text_en and len(out.text_en.split()) >= len(sources)


def test_empty_text_and_title(installed: TranslateConfig) -> None:
    (out,) = Translator(installed).translate_articles([article("it", "", "")])
    assert out.translation_status == "done"
    assert (out.title_en, out.text_en) == ("", "")


# ------------------------------------------------------------------- real package

REAL = os.environ.get("TIDINGS_REAL_ARGOS_PACKAGE")


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="set TIDINGS_REAL_ARGOS_PACKAGE to a real it→en "
                    ".argosmodel to translate seed 004 for real")
def test_real_package_translates_seed_004(config: TranslateConfig) -> None:
    info = install_from_file(config, Path(REAL or ""))
    assert (info.from_code, info.to_code) == ("it", "en")
    config = dataclasses.replace(config, threads=0)
    (out,) = Translator(config).translate_articles(
        [article("it", "Xiaomi Automotive si stabilirà a Pechino", IT_TEXT)])
    assert out.translation_status == "done", out.translation_error
    assert "Xiaomi" in (out.text_en or "")
    assert "300,000" in (out.text_en or "")
