"""pipeline.minhash gives the very values datasketch's affine32 MinHash gives, and the
shingles' numpy hashing estimates what it should.

Stores hold content-word signatures made by datasketch (`MinHash(num_perm, seed=7,
scheme="affine32")`, `update_batch`); if these values drifted, every stored fingerprint
would stop matching new articles. datasketch is a test-only dependency, for this
comparison. The shingles are hashed in numpy (`minhash.grams`): their values are pinned
here, for the same reason.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline import minhash, stories

LETTERS = "abcdefghijklmnopqrstuvwxyzàèéìòù"
HAN = "的一是不了在人有我他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自"
# What `stories.shingles` gave when its numpy hashing was introduced (fingerprints v4): a
# store's signatures are only comparable with new ones while these stay.
PINNED_LATIN = [1349492895, 2186503545, 3038749777, 3479574954]
PINNED_HAN = [583127816, 2427894488, 2584721256, 3110014354, 3598878038]
PINNED_SIGNATURE = [68844984, 344807275, 241915763, 63429739]


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
    """The items tidings feeds datasketch's MinHash (content words) of 300 random texts."""
    rng = random.Random(20250520)
    for _ in range(300):
        text, cjk = random_text(rng)
        items = stories.content_words(text, cjk)
        got = minhash.signature(items, stories.WORD_PERM)
        assert got.dtype == np.uint32
        assert np.array_equal(got, reference(items, stories.WORD_PERM)), text[:80]


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
    words = stories.content_words(text, False)
    assert np.array_equal(stories._minhash(words, stories.WORD_PERM),
                          reference(words, stories.WORD_PERM))


def byte_shingles(text: str, cjk: bool) -> set[bytes]:
    """The shingles as byte strings, the way they were hashed before (one SHA-1 each;
    `bench.minhash_vs_datasketch` times them against `stories.shingles`)."""
    norm = " ".join(stories.normalised_sentences(text))
    if cjk:
        chars = norm.replace(" ", "")
        return {chars[i:i + 4].encode() for i in range(max(len(chars) - 3, 1))} if chars \
            else set()
    words = norm.split()
    return {" ".join(words[i:i + 3]).encode() for i in range(max(len(words) - 2, 1))} \
        if words else set()


def test_shingles_are_one_hash_per_distinct_shingle() -> None:
    """As many distinct hashes as distinct word 3-grams (character 4-grams): repeats count
    once, and no two shingles of a text share a hash."""
    rng = random.Random(5)
    for _ in range(200):
        text, cjk = random_text(rng)
        text += " " + text[: len(text) // 3]  # repeats
        got = stories.shingles(text, cjk)
        assert got.dtype == np.uint32 and np.all(got[1:] > got[:-1])  # distinct, sorted
        assert len(got) == len(byte_shingles(text, cjk))


def test_shingle_signatures_estimate_the_shingles_jaccard() -> None:
    """Two texts that share a part: the signatures agree on about the share of shingles
    the two have in common (64 permutations: within ±0.25 each, ±0.06 on average)."""
    rng = random.Random(11)
    errors = []
    for _ in range(150):
        text, cjk = random_text(rng)
        cut = rng.randint(0, len(text))
        other = text[:cut] + ("的是" if cjk else " was not ") + random_text(rng)[0][:cut]
        a, b = byte_shingles(text, cjk), byte_shingles(other, cjk)
        if not a or not b:
            continue
        true = len(a & b) / len(a | b)
        estimate = float(np.mean(
            minhash.signature_of(stories.shingles(text, cjk), stories.SHINGLE_PERM)
            == minhash.signature_of(stories.shingles(other, cjk), stories.SHINGLE_PERM)))
        assert abs(estimate - true) <= 0.25
        errors.append(abs(estimate - true))
    assert len(errors) > 100 and float(np.mean(errors)) <= 0.06


def test_shingle_values_are_pinned() -> None:
    """Stored signatures must not change between versions or processes."""
    assert stories.shingles("BYD said on Monday it delivered", False).tolist() == PINNED_LATIN
    assert stories.shingles("小米汽车交付新车", True).tolist() == PINNED_HAN
    assert stories._shingle_minhash(np.asarray(PINNED_LATIN, np.uint32))[:4].tolist() == \
        PINNED_SIGNATURE
