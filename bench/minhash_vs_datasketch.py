"""CPU per signature: pipeline.minhash against datasketch's MinHash, on the same items.

    python -m bench.minhash_vs_datasketch        # needs datasketch (the `test` extra)

The items are what tidings hashed with SHA-1: the body shingles (64 permutations, as
byte strings: tidings now hashes them in numpy) and content words (128) of 300 generated
articles (English, Italian, Chinese; `bench.newsweb`). Both sides are checked to give
equal values first; then each is timed (CPU time, 5 repetitions, the faster of two
interleaved turns) in two runs, printed as they come. A last line compares the shingles'
two ways from the text: byte strings and SHA-1 against `stories.shingles` (numpy hashes).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np

from bench.newsweb import make_article_text
from pipeline import minhash, stories
from tests.test_minhash import byte_shingles  # the items as they were for SHA-1


def texts(n_texts: int = 300) -> list[tuple[str, bool]]:
    rng = random.Random(5)
    out = []
    for i in range(n_texts):
        lang = ("en", "it", "zh")[i % 3]
        _, paragraphs = make_article_text(rng, lang)
        out.append(("\n\n".join(paragraphs), lang == "zh"))
    return out


def item_sets(bodies: list[tuple[str, bool]]) -> list[tuple[set[bytes], int]]:
    sets = []
    for body, cjk in bodies:
        sets.append((byte_shingles(body, cjk), stories.SHINGLE_PERM))
        sets.append((stories.content_words(body, cjk), stories.WORD_PERM))
    return sets


def main() -> int:
    from datasketch import MinHash

    bodies = texts()
    sets = item_sets(bodies)
    perms = {n: MinHash(num_perm=n, seed=7, scheme="affine32").permutations
             for n in (stories.SHINGLE_PERM, stories.WORD_PERM)}

    def with_datasketch(items: set[bytes], n: int) -> np.ndarray:  # as stories.py did
        m = MinHash(num_perm=n, seed=7, permutations=perms[n], scheme="affine32")
        if items:
            m.update_batch(list(items))
        return np.asarray(m.hashvalues, dtype=np.uint32)

    def with_numpy(items: set[bytes], n: int) -> np.ndarray:
        return minhash.signature(items, n, seed=7)

    for items, n in sets:
        assert np.array_equal(with_datasketch(items, n), with_numpy(items, n))

    def cpu_per_call(fn: Callable[[set[bytes], int], np.ndarray]) -> float:
        started = time.process_time()
        for _ in range(5):
            for items, n in sets:
                fn(items, n)
        return (time.process_time() - started) / (5 * len(sets))

    mean_items = sum(len(s) for s, _ in sets) / len(sets)
    print(f"{len(sets)} signatures, {mean_items:.0f} items each on average; equal values: yes")
    for run in (1, 2):
        ds = min(cpu_per_call(with_datasketch), cpu_per_call(with_datasketch))
        npy = min(cpu_per_call(with_numpy), cpu_per_call(with_numpy))
        sha = cpu_per_call(lambda items, n: minhash.hash32(items))
        print(f"run {run}: datasketch {ds * 1e6:.0f} µs, pipeline.minhash {npy * 1e6:.0f} µs "
              f"per signature (of which SHA-1 {sha * 1e6:.0f} µs): "
              f"datasketch / numpy = {ds / npy:.2f}×")

    def shingled(fn: Callable[[str, bool], np.ndarray]) -> float:
        started = time.process_time()
        for _ in range(5):
            for body, cjk in bodies:
                fn(body, cjk)
        return (time.process_time() - started) / (5 * len(bodies))

    def by_sha1(body: str, cjk: bool) -> np.ndarray:
        return minhash.signature(byte_shingles(body, cjk), stories.SHINGLE_PERM)

    def by_numpy(body: str, cjk: bool) -> np.ndarray:
        return minhash.signature_of(stories.shingles(body, cjk), stories.SHINGLE_PERM)

    for run in (1, 2):
        old = min(shingled(by_sha1), shingled(by_sha1))
        new = min(shingled(by_numpy), shingled(by_numpy))
        print(f"run {run}: shingle signature from the text: byte strings + SHA-1 "
              f"{old * 1e6:.0f} µs, numpy hashes {new * 1e6:.0f} µs: {old / new:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
