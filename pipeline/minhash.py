"""MinHash signatures in numpy, value for value those of datasketch's `affine32` scheme.

Stored fingerprints were made with `datasketch.MinHash(num_perm, seed=7, scheme="affine32")`
and `update_batch`; this module computes the same uint32 values without importing
datasketch (which pulls in scipy: a third of a second at start-up), and hashes the whole
set of items in one numpy step instead of one Python call per item and permutation.

Items can also come as 32-bit hashes made in numpy (`signature_of`, with `grams` over
`word_hashes` or `code_points`): no Python call per item, where datasketch's SHA-1 costs
~0.5 µs an item. The permutations are the same; the values are not datasketch's.

The scheme, as datasketch 2.0 defines it:

- each item (bytes) is hashed to 32 bits: the first four bytes of its SHA-1, little-endian;
- the hash is mixed once with the MurmurHash3 32-bit finaliser (a bijection);
- permutation k maps h to `a_k * h + b_k mod 2**32` (`a_k` odd), where `a` and `b` are
  drawn from `numpy.random.RandomState(seed)`: first `a // 2` (num_perm values below
  2**31, uint32), then `b` (num_perm values below 2**32, uint32);
- the signature is the minimum over the items, per permutation; an empty set gives
  2**32 - 1 everywhere.

tests/test_minhash.py checks the values against datasketch itself on random texts.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Collection, Sequence

import numpy as np

EMPTY = np.uint32(0xFFFFFFFF)  # the value of every permutation for an empty set
_CHUNK = 4096  # items per numpy step: bounds the temporary (items × permutations) array
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35),
         np.uint32(16))
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_FOLD = np.uint64(32)
_PERMUTATIONS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) parameters of the affine permutations, drawn as datasketch draws them."""
    key = (num_perm, seed)
    if key not in _PERMUTATIONS:
        if num_perm < 1:
            raise ValueError("num_perm must be positive")
        gen = np.random.RandomState(seed)
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        a.setflags(write=False)
        b.setflags(write=False)
        _PERMUTATIONS[key] = (a, b)
    return _PERMUTATIONS[key]


def hash32(items: Collection[bytes]) -> np.ndarray:
    """The 32-bit hash of each item: the first 4 bytes of its SHA-1, little-endian."""
    sha1 = hashlib.sha1
    digests = b"".join([sha1(item).digest() for item in items])  # 20 bytes each
    return np.frombuffer(digests, dtype="<u4")[::5].astype(np.uint32)


def word_hashes(words: Sequence[bytes]) -> np.ndarray:
    """CRC-32 of each byte string, in order (uint32): one C call per word, through `map`."""
    return np.fromiter(map(zlib.crc32, words), np.uint32, count=len(words))


def code_points(text: str) -> np.ndarray:
    """The text's characters as uint32 code points, in one call."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint32)


def grams(parts: np.ndarray, n: int) -> np.ndarray:
    """The hash of every run of `n` consecutive parts (uint32 values), in order: FNV-1a
    over the parts in 64 bits, folded to 32. One hash of all the parts when there are
    fewer than `n`; none when there are none."""
    count = len(parts)
    if count == 0:
        return np.zeros(0, np.uint32)
    n = min(n, count)
    wide = parts.astype(np.uint64)
    h = np.full(count - n + 1, _FNV_OFFSET, dtype=np.uint64)
    for k in range(n):  # uint64 products wrap mod 2**64, as FNV-1a wants
        h ^= wide[k:count - n + 1 + k]
        h *= _FNV_PRIME
    folded: np.ndarray = (h ^ (h >> _FOLD)).astype(np.uint32)
    return folded


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    mixed: np.ndarray = h ^ (h >> s3)
    return mixed


def signature(items: Collection[bytes], num_perm: int, seed: int = 7) -> np.ndarray:
    """The MinHash signature of a set of byte strings: `num_perm` uint32 values.

    Equal to `datasketch.MinHash(num_perm, seed=seed, scheme="affine32")` after
    `update_batch(items)`, `.hashvalues`.
    """
    return signature_of(hash32(items), num_perm, seed)


def signature_of(hashes: np.ndarray, num_perm: int, seed: int = 7) -> np.ndarray:
    """The MinHash signature of a set of items given by their 32-bit hashes (a repeat
    changes nothing): `num_perm` uint32 values."""
    a, b = permutations(num_perm, seed)
    out = np.full(num_perm, EMPTY, dtype=np.uint32)
    if not len(hashes):
        return out
    mixed = _fmix32(np.asarray(hashes, dtype=np.uint32))
    a_col, b_col = a[:, None], b[:, None]
    for start in range(0, len(mixed), _CHUNK):
        # One row per permutation, reduced along the row (contiguous): several times
        # faster than the (items × permutations) layout datasketch uses.
        table = a_col * mixed[None, start:start + _CHUNK]  # uint32: wraps mod 2**32
        table += b_col
        np.minimum(out, table.min(axis=1), out=out)
    return out
