"""Build real (random-weight) Argos Translate packages at test time.

A package made here has exactly the layout of a published one: a zip (``.argosmodel``)
holding one top directory with ``metadata.json``, ``sentencepiece.model`` and ``model/``
(a CTranslate2 Transformer: ``model.bin``, ``config.json``, ``shared_vocabulary.json``).
The SentencePiece model is really trained (on the seeds, or on text you pass); the
Transformer's weights are random, so translations are gibberish of bounded length —
tests assert on mechanics, never on wording.

Importable from other tests (``from argos_fixture import build_tiny_package``) and from
``bench/bench_translate.py`` (``build_package`` with the shape of the published models).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SEEDS = Path(__file__).resolve().parent / "data" / "seeds"

#: Text that always goes into the SentencePiece training set, so that Italian, Chinese
#: and English all tokenise into pieces rather than <unk>.
BASE_TEXT = """\
Xiaomi Automotive si stabilirà nella Beijing Economic Development Zone.
L'azienda costruirà un impianto con l'obiettivo di produrre 300.000 veicoli all'anno.
Il PIL regionale è di 193,48 miliardi di yuan, con un aumento annuo del 38,8%.
Il Sig. Rossi della Fiat S.p.A. ha visitato lo stabilimento di Pechino.
Le auto elettriche usciranno dalla catena di montaggio nella prima metà del 2024.
La batteria del nuovo veicolo garantisce un'autonomia di 600 chilometri.
小米汽车将在北京经济技术开发区建设整车工厂，年产能三十万辆。
北汽蓝谷发布新能源车型，电池技术取得突破。
雷军表示，小米汽车的进展远超预期！
工厂分两期建设，第一期产能十五万辆；第二期同样十五万辆。
今年前三季度，开发区实现地区生产总值一千九百亿元。
Xiaomi will build a factory with an annual capacity of 300,000 vehicles.
BAIC BluePark announced new electric vehicle models and battery technology.
The first Xiaomi car is expected to enter mass production in the first half of 2024.
"""


def training_text(extra: Iterable[str] = ()) -> list[str]:
    """Lines to train SentencePiece on: the base text, the seeds and `extra`."""
    lines = [line for line in BASE_TEXT.splitlines() if line.strip()]
    if SEEDS.is_dir():
        for seed in sorted(SEEDS.glob("*.txt")):
            lines += [line for line in seed.read_text("utf-8").splitlines() if line.strip()]
    lines += [line for line in extra if line.strip()]
    return lines


def train_sentencepiece(lines: list[str], vocab_size: int, model_type: str = "unigram") -> bytes:
    """A SentencePiece model trained on `lines` (vocab_size is a ceiling, not a must)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type=model_type,
        character_coverage=1.0,
        byte_fallback=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=2,
        minloglevel=2,
        input_sentence_size=0,
        max_sentence_length=8192,
    )
    return model.getvalue()


def _random_weights(spec: object, *, vocab: int, d_model: int, ffn: int, seed: int) -> None:
    """Give every unset variable of a TransformerSpec a random array of its shape."""
    from ctranslate2.specs import model_spec

    rng = np.random.default_rng(seed)

    def shape_of(name: str) -> tuple[int, ...] | None:
        parts = name.split("/")
        leaf, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
        grand = parts[-3] if len(parts) > 2 else ""
        if leaf in ("gamma", "beta"):
            return (d_model,)
        if parent.startswith("embeddings") or parent == "projection":
            return (vocab, d_model) if leaf == "weight" else (vocab,)
        out_in = {
            ("self_attention", "linear_0"): (3 * d_model, d_model),  # fused q, k, v
            ("self_attention", "linear_1"): (d_model, d_model),
            ("attention", "linear_0"): (d_model, d_model),  # query
            ("attention", "linear_1"): (2 * d_model, d_model),  # fused k, v of the memory
            ("attention", "linear_2"): (d_model, d_model),
            ("ffn", "linear_0"): (ffn, d_model),
            ("ffn", "linear_1"): (d_model, ffn),
        }.get((grand, parent))
        if out_in is None:
            return None
        return out_in if leaf == "weight" else (out_in[0],)

    def fill(layer: object, name: str, value: object) -> None:
        leaf = name.split("/")[-1]
        unset = value is None
        optional_bias = (isinstance(value, str) and value == model_spec.OPTIONAL
                         and leaf == "bias")
        if not (unset or optional_bias):
            return
        shape = shape_of(name)
        if shape is None:
            if unset:
                raise ValueError(f"fixture does not know the shape of {name}")
            return
        if leaf == "gamma":
            array = np.ones(shape, dtype=np.float32)
        elif leaf in ("beta", "bias"):
            array = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        else:
            array = (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
        setattr(layer, leaf, array)

    model_spec.visit_spec(spec, fill)


def build_package(
    dest_dir: Path,
    *,
    from_code: str = "it",
    to_code: str = "en",
    version: str = "1.0",
    layers: int = 2,
    heads: int = 2,
    d_model: int = 64,
    ffn: int = 128,
    vocab_size: int = 300,
    pad_vocab_to: int | None = None,
    extra_text: Iterable[str] = (),
    quantization: str | None = None,
    eos_bias: float = 0.0,
    seed: int = 1234,
) -> Path:
    """Write ``translate-{from}_{to}-{version}.argosmodel`` into `dest_dir`; return its path.

    `pad_vocab_to` appends synthetic tokens (``<extra_N>``) to the model's vocabulary so
    that its embedding and output layers have the size of a real model's even when the
    training text cannot support that many SentencePiece pieces. `eos_bias` is added to
    the output logit of ``</s>``: random weights then stop after a random number of
    tokens, as a real model stops at the end of its sentence, instead of always running
    to ``max_decoding_length``.
    """
    import ctranslate2
    import sentencepiece as spm

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    sp_bytes = train_sentencepiece(training_text(extra_text), vocab_size)
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    tokens = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    if pad_vocab_to and pad_vocab_to > len(tokens):
        tokens += [f"<extra_{i}>" for i in range(pad_vocab_to - len(tokens))]

    spec = ctranslate2.specs.TransformerSpec.from_config(num_layers=layers, num_heads=heads)
    _random_weights(spec, vocab=len(tokens), d_model=d_model, ffn=ffn, seed=seed)
    if eos_bias:
        spec.decoder.projection.bias[tokens.index("</s>")] += eos_bias
    spec.register_source_vocabulary(tokens)
    spec.register_target_vocabulary(tokens)
    spec.validate()
    if quantization:
        spec.optimize(quantization=quantization)

    name = f"translate-{from_code}_{to_code}-{version.replace('.', '_')}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / name
        (root / "model").mkdir(parents=True)
        spec.save(str(root / "model"))
        (root / "sentencepiece.model").write_bytes(sp_bytes)
        metadata = {
            "package_version": version,
            "argos_version": "1.5",
            "from_code": from_code,
            "from_name": {"it": "Italian", "zh": "Chinese", "en": "English"}.get(
                from_code, from_code),
            "to_code": to_code,
            "to_name": {"en": "English", "it": "Italian"}.get(to_code, to_code),
            "links": [],
        }
        (root / "metadata.json").write_text(json.dumps(metadata, indent=2), "utf-8")
        (root / "README.md").write_text(
            "Random-weight test package built by tests/argos_fixture.py.\n", "utf-8")
        target = dest_dir / f"{name}.argosmodel"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(root.rglob("*")):
                archive.write(path, path.relative_to(Path(tmp)).as_posix())
    return target


def build_tiny_package(dest_dir: Path, from_code: str = "it", to_code: str = "en",
                       version: str = "1.0") -> Path:
    """A ~1 MB package: 2+2 layers, d=64, 2 heads, SentencePiece vocabulary of ~300."""
    return build_package(Path(dest_dir), from_code=from_code, to_code=to_code,
                         version=version)


def corrupt_package(argosmodel: Path, dest: Path) -> Path:
    """A copy of `argosmodel` whose model.bin is garbage (the package still installs)."""
    dest = Path(dest)
    with zipfile.ZipFile(argosmodel) as src, zipfile.ZipFile(dest, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("model/model.bin"):
                data = b"\x00garbage" * 64
            out.writestr(item, data)
    return dest


__all__ = ["build_package", "build_tiny_package", "corrupt_package", "train_sentencepiece",
           "training_text"]
