"""pipeline.minhash gives the very values datasketch's affine32 MinHash gives.

Stores hold signatures made by datasketch (`MinHash(num_perm, seed=7, scheme="affine32")`,
`update_batch`); if these values drifted, every stored fingerprint would stop matching new
articles. datasketch is a test-only dependency, for this comparison.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline import minhash, stories

LETTERS = "abcdefghijklmnopqrstuvwxyzàèéìòù"
HAN = "的一是不了在人有我他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自"


def reference(items: set[bytes], num_perm: int, seed: int = 7) -> np.ndarray:
    datasketch = pytest.importorskip("datasketch")
    m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
    if items:
        m.update_batch(list(items))
    return np.asarray(m.hashvalues, dtype=np.uint32)


def random_text(rng: random.Random) -> tuple[str, bool]:
    if rng.random() < 0.3:
        return "".join(rng.choice(HAN) for _ in range(rng.randint(0, 900))), True
    words = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 10)))
             for _ in range(rng.randint(0, 700))]
    return " ".join(words), False


def test_signatures_equal_datasketch_on_random_texts() -> None:
    """The items tidings feeds MinHash (shingles and content words) of 300 random texts."""
    rng = random.Random(20250520)
    for _ in range(300):
        text, cjk = random_text(rng)
        for items, num_perm in ((stories.shingles(text, cjk), stories.SHINGLE_PERM),
                                (stories.content_words(text, cjk), stories.WORD_PERM)):
            got = minhash.signature(items, num_perm)
            assert got.dtype == np.uint32
            assert np.array_equal(got, reference(items, num_perm)), text[:80]


@pytest.mark.parametrize("num_perm", [1, 16, 64, 128, 256])
@pytest.mark.parametrize("seed", [1, 7, 42])
def test_any_size_and_seed(num_perm: int, seed: int) -> None:
    """Arbitrary bytes (NULs, high bytes, empty item), sets larger than one numpy step."""
    rng = random.Random(num_perm * 1000 + seed)
    for n in (0, 1, 2, 50, 5000):
        items = {bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
                 for _ in range(n)}
        assert np.array_equal(minhash.signature(items, num_perm, seed),
                              reference(items, num_perm, seed))


def test_permutations_equal_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    a, b = minhash.permutations(128, 7)
    ref = datasketch.MinHash(num_perm=128, seed=7, scheme="affine32").permutations
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


def test_pinned_values() -> None:
    """Values datasketch 2.0 gave for this set, kept here in case datasketch is not installed."""
    items = {b"tidings", b"BYD delivered", "小米汽车".encode()}
    assert minhash.signature(items, 64)[:8].tolist() == [
        1290489562, 420953282, 168086185, 322245890, 1329163019, 867313475, 1750192700,
        133326730]


def test_empty_set_is_all_max() -> None:
    assert minhash.signature(set(), 64).tolist() == [2**32 - 1] * 64


def test_stories_fingerprint_uses_the_same_values() -> None:
    text = "BYD said on Monday it delivered 300,000 vehicles in May, up 38% from a year ago."
    sh = stories.shingles(text, False)
    assert np.array_equal(stories._minhash(sh, stories.SHINGLE_PERM),
                          reference(sh, stories.SHINGLE_PERM))
