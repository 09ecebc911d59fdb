"""Benchmark of the translation stage: tidings vs raw CTranslate2 vs argostranslate.

    python bench/bench_translate.py            # full run, prints a markdown section
    python bench/bench_translate.py --quick    # fewer sentences, one warm-up less

`run(quick)` returns the section for docs/benchmarks.md and also writes it to
docs/translation-bench.md. A package with the shape of the published Argos models is
generated on the fly (random weights, see tests/argos_fixture.py), installed twice (it→en
and zh→en), and the same Italian and Chinese articles (seed 004, the realworld corpus)
are translated, in one process, by:

- tidings: `Translator.translate_articles` (splitting, SentencePiece, cross-article
  batches, reassembly) with the cache disabled so every run does the full work;
- raw, same batches: `translate_batch` on the pre-tokenised distinct sentences, in the
  batches tidings forms, same settings (beam, batch tokens, int8, threads, decoding caps):
  the pure CTranslate2 cost, so tidings' overhead shows;
- raw, one call: all sentences of a package in one `translate_batch` call with one
  decoding cap (2×longest+10), the naive use;
- argostranslate: `argostranslate.translate.translate(text, lang, "en")` per article,
  its default path (beam 4, 32-token batches per paragraph), with its MiniSBD sentencizer
  replaced by tidings' splitter because MiniSBD downloads a model at run time.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pipeline.config import TranslateConfig
from pipeline.models import Article
from pipeline.packages import install_from_file
from pipeline.sentences import split_sentences
from pipeline.translate import (
    DECODE_MARGIN,
    DECODE_RATIO,
    Translator,
    _batches,
)

DATA = ROOT / "tests" / "data"  # the repository's copies of the shared corpus
CORPUS = DATA / "realworld"
SHAPE = {"layers": 6, "heads": 8, "d_model": 512, "ffn": 2048}
VOCAB = 32000
EOS_BIAS = 1.5  # random weights then stop after ~25-60 tokens, like a real sentence
RUNS = 2  # two runs, as every figure of make bench (and the suite stays under 15 min)


class NoCache:
    """A cache that never answers: every run translates everything."""

    def cached_translations(self, package_key: str, sentences: list[str]) -> dict[str, str]:
        return {}

    def cache_translations(self, package_key: str, pairs: list[tuple[str, str]]) -> None:
        pass


# ------------------------------------------------------------------------- inputs


def _texts(lang: str) -> list[tuple[str, str]]:
    """(name, text) of the bench's source articles in `lang`, in a fixed order."""
    out: list[tuple[str, str]] = []
    if lang == "it":
        seed = DATA / "seeds" / "004_61c0a642c7b66a9a.txt"
        out.append((seed.name, seed.read_text("utf-8")))
        import trafilatura

        for page in sorted((CORPUS / "html" / "it").glob("*.html")):
            if not page.name.startswith("list-"):
                text = trafilatura.extract(page.read_bytes()) or ""
                out.append((page.name, text))
    else:
        manifest = (CORPUS / "MANIFEST.tsv").read_text("utf-8").splitlines()
        for row in manifest[1:]:
            cols = row.split("\t")
            if cols[6] == "zh" and cols[0].startswith("expected/") and cols[0].endswith(".txt"):
                out.append((cols[0], (CORPUS / cols[0]).read_text("utf-8")))
        out.sort()
    return [(name, text) for name, text in out if text.strip()]


def bench_articles(per_lang: int) -> list[Article]:
    """Articles holding `per_lang` distinct sentences per language (whole lines)."""
    articles = []
    for lang in ("it", "zh"):
        seen: set[str] = set()
        for name, text in _texts(lang):
            lines = []
            for line in text.splitlines():
                new = [s for s in split_sentences(line, lang) if s not in seen]
                if not new or len(seen) >= per_lang:
                    continue
                seen.update(new)
                lines.append(line)
            if lines:
                articles.append(Article(url=f"bench:{name}", source="bench", title="",
                                        text="\n".join(lines), lang=lang))
            if len(seen) >= per_lang:
                break
    return articles


def build_packages(workdir: Path) -> dict[str, Path]:
    """The Argos-shaped it→en package, and the same files relabelled zh→en."""
    from argos_fixture import build_package

    extra = []
    for txt in sorted((CORPUS / "expected").glob("*.txt")):
        extra += txt.read_text("utf-8").splitlines()
    it = build_package(workdir, from_code="it", to_code="en", version="1.0",
                       vocab_size=VOCAB, pad_vocab_to=VOCAB, extra_text=extra,
                       quantization="int8", eos_bias=EOS_BIAS, **SHAPE)
    zh = workdir / "translate-zh_en-1_0.argosmodel"
    with zipfile.ZipFile(it) as src, zipfile.ZipFile(zh, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            name = item.filename.replace("translate-it_en", "translate-zh_en")
            if name.endswith("metadata.json"):
                meta = json.loads(data)
                meta.update(from_code="zh", from_name="Chinese")
                data = json.dumps(meta).encode()
            out.writestr(name, data)
    return {"it": it, "zh": zh}


# ----------------------------------------------------------------------- measures


def _time(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _rss_child(package_dir: str, articles_json: str, threads: int) -> None:
    """Subprocess entry: peak RSS after loading both packages and translating."""
    def peak_mb() -> float:  # VmHWM: unlike ru_maxrss, not inherited from the parent
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    base = peak_mb()
    config = _config(Path(package_dir), threads)
    translator = Translator(config)
    translator.translate_articles([Article(url="w", source="b", title="", text="Ciao.",
                                           lang="it"),
                                   Article(url="z", source="b", title="", text="你好。",
                                           lang="zh")], cache=NoCache())
    loaded = peak_mb()
    articles = [Article(**a) for a in json.loads(Path(articles_json).read_text("utf-8"))]
    translator.translate_articles(articles, cache=NoCache())
    print(json.dumps({"base": base, "loaded": loaded, "peak": peak_mb()}))


def _config(package_dir: Path, threads: int = 0) -> TranslateConfig:
    return TranslateConfig(target="en", languages=("it", "zh"), package_dir=package_dir,
                           beam_size=2, threads=threads, batch_tokens=4096,
                           max_sentence_tokens=200)


def run(quick: bool = False) -> str:
    per_lang = 12 if quick else 30  # keeps `make bench` well under 15 minutes on 2 cores
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
        work = Path(tmp)
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ[var] = str(work / var.lower())  # keep argostranslate out of $HOME
        started = time.perf_counter()
        built = build_packages(work / "build")
        build_s = time.perf_counter() - started
        config = _config(work / "packages")
        for file in built.values():
            install_from_file(config, file)
        articles = bench_articles(per_lang)
        return _measure(config, articles, build_s, quick, work)


def _measure(config: TranslateConfig, articles: list[Article], build_s: float, quick: bool,
             work: Path) -> str:
    translator = Translator(config)
    started = time.perf_counter()
    warm = translator.translate_articles(articles, cache=NoCache())  # loads both models
    first_s = time.perf_counter() - started
    assert all(a.translation_status == "done" for a in warm), warm[0].translation_error
    sentences = translator.stats.translated
    chunks = translator.stats.chunks
    loaded = {lang: translator._load(translator.package_for(lang))  # type: ignore[arg-type]
              for lang in ("it", "zh")}

    # raw: the same distinct sentences, pre-tokenised, one translate_batch per package
    raw_inputs = {}
    for lang, pkg in loaded.items():
        distinct = list(dict.fromkeys(
            s for a in articles if a.lang == lang for s in split_sentences(a.text, lang)))
        raw_inputs[lang] = pkg.sp.encode(distinct, out_type=str)
    raw_outputs: dict[str, list[list[str]]] = {}
    same_tokens = [0]

    def raw_same() -> None:
        """tidings' batches and decoding caps, without anything else tidings does."""
        same_tokens[0] = 0
        for lang, tokens in raw_inputs.items():
            for batch in _batches([len(t) for t in tokens], config.batch_tokens):
                source = [tokens[k] for k in batch]
                longest = max(len(t) for t in source)
                results = loaded[lang].model.translate_batch(
                    source, beam_size=config.beam_size, max_batch_size=config.batch_tokens,
                    batch_type="tokens", max_input_length=0,
                    max_decoding_length=DECODE_RATIO * longest + DECODE_MARGIN,
                    min_decoding_length=1, replace_unknowns=True, length_penalty=0.2)
                same_tokens[0] += sum(len(r.hypotheses[0]) for r in results)

    def raw() -> None:
        for lang, tokens in raw_inputs.items():
            longest = max(len(t) for t in tokens)
            results = loaded[lang].model.translate_batch(
                tokens, beam_size=config.beam_size, max_batch_size=config.batch_tokens,
                batch_type="tokens", max_input_length=0,
                max_decoding_length=DECODE_RATIO * longest + DECODE_MARGIN,
                min_decoding_length=1, replace_unknowns=True, length_penalty=0.2)
            raw_outputs[lang] = [r.hypotheses[0] for r in results]

    tidings_out: list[Article] = []

    def tidings() -> None:
        tidings_out[:] = translator.translate_articles(articles, cache=NoCache())

    # argostranslate, default path, sentencizer substituted
    os.environ["ARGOS_PACKAGES_DIR"] = str(config.package_dir)
    import argostranslate.translate as argos

    class Splitter:
        def __init__(self, lang: str) -> None:
            self.lang = lang

        def split_sentences(self, text: str) -> list[str]:
            return split_sentences(text, self.lang)

    class Counting:
        """Stands in for argos' ctranslate2.Translator and counts the decoded pieces."""

        def __init__(self, model: Any) -> None:
            self.model, self.output_tokens = model, 0

        def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
            results = self.model.translate_batch(*args, **kwargs)
            self.output_tokens += sum(len(r.hypotheses[0]) for r in results)
            return results

    counters = []
    for lang in ("it", "zh"):
        translation = argos.get_translation_from_codes(lang, "en")
        translation.underlying.sentencizer = Splitter(lang)  # type: ignore[attr-defined]
        argos.translate("Ciao." if lang == "it" else "你好。", lang, "en")  # load the model
        counters.append(Counting(translation.underlying.translator))  # type: ignore[attr-defined]
        translation.underlying.translator = counters[-1]  # type: ignore[attr-defined]
    argos_out: list[str] = []

    def argostranslate() -> None:
        argos_out[:] = [argos.translate(a.text, a.lang, "en") for a in articles]

    times: dict[str, list[float]] = {"tidings": [], "same": [], "raw": [], "argos": []}
    tokens_before = translator.stats.output_tokens
    for _ in range(RUNS):
        times["same"].append(_time(raw_same))
        times["raw"].append(_time(raw))
        times["tidings"].append(_time(tidings))
        times["argos"].append(_time(argostranslate))
    med = {k: statistics.median(v) for k, v in times.items()}
    assert all(a.translation_status == "done" for a in tidings_out)
    assert len(argos_out) == len(articles)

    out_pieces = {  # per run
        "tidings": (translator.stats.output_tokens - tokens_before) // RUNS,
        "same": same_tokens[0],
        "raw": sum(len(h) for hs in raw_outputs.values() for h in hs),
        "argos": sum(c.output_tokens for c in counters) // RUNS,
    }
    in_pieces = sum(len(t) for ts in raw_inputs.values() for t in ts)

    articles_json = work / "articles.json"
    articles_json.write_text(json.dumps([
        {"url": a.url, "source": a.source, "title": a.title, "text": a.text, "lang": a.lang}
        for a in articles]), "utf-8")
    child = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(config.package_dir),
         str(articles_json), str(config.threads)],
        capture_output=True, text=True, check=True, env={**os.environ})
    rss = json.loads(child.stdout.strip().splitlines()[-1])

    section = _report(config, articles, sentences, chunks, in_pieces, out_pieces, times, med,
                      rss, build_s, first_s, quick, loaded["it"].info.size_bytes)
    if not quick:
        (ROOT / "docs" / "translation-bench.md").write_text(section, "utf-8")
    return section


def _report(config: TranslateConfig, articles: list[Article], sentences: int, chunks: int,
            in_pieces: int, out_pieces: dict[str, int], times: dict[str, list[float]],
            med: dict[str, float], rss: dict[str, float], build_s: float, first_s: float,
            quick: bool, package_bytes: int) -> str:
    n_it = sum(a.lang == "it" for a in articles)
    n_zh = sum(a.lang == "zh" for a in articles)
    same_ratio = med["same"] / med["tidings"]  # tidings throughput / raw throughput
    raw_ratio = med["raw"] / med["tidings"]
    argos_ratio = med["argos"] / med["tidings"]

    def rate(key: str) -> str:
        return f"{sentences / med[key]:.1f}"

    def runs(key: str) -> str:
        return " / ".join(f"{t:.2f}" for t in times[key])

    threads = config.threads or os.cpu_count()
    lines = [
        "## Translation stage (CTranslate2, Argos-shaped package)",
        "",
        ("What is measured: the same Italian and Chinese articles (seed 004, the realworld "
        "corpus: trafilatura text of the Italian pages, the hand-cleaned text of the Chinese "
        "ones) translated in one process by tidings' `Translator`, by raw "
        "`ctranslate2.Translator.translate_batch` on the same pre-tokenised sentences, and "
        "by `argostranslate.translate.translate` per article. The package has the shape of "
        f"the published Argos models — {SHAPE['layers']}+{SHAPE['layers']} layers, "
        f"d={SHAPE['d_model']}, {SHAPE['heads']} heads, feed-forward {SHAPE['ffn']}, "
        f"vocabulary {VOCAB} — with random weights, saved int8 "
        f"({package_bytes / 1e6:.0f} MB on disk). Its SentencePiece model is trained on the "
        "corpus, which supports fewer pieces than 32k; the CTranslate2 vocabulary is padded "
        "with synthetic tokens to 32k so that embedding and output layers have the real "
        f"size. A bias of {EOS_BIAS} on the `</s>` logit makes random decoding stop after a "
        "few dozen tokens, as a real model stops at the end of its sentence; tidings and raw "
        "also cap `max_decoding_length` at 2×input+10. The output-length row shows every "
        "side did comparable decoding work. The translation cache is disabled so every run "
        f"does the full work. Times are medians of {RUNS} runs after a warm-up "
        "(model loading excluded)."),
        "",
        ("argostranslate runs its default path (`translate()` → `CachedTranslation` → "
        "`PackageTranslation`: beam 4, `max_batch_size=32` tokens, one `translate_batch` per "
        "paragraph) except that its sentencizer is **substituted with tidings' splitter**: "
        "its default MiniSBD downloads a model on first use and fails offline. Both sides "
        "therefore translate the same sentences."),
        "",
        (f"Input: {len(articles)} articles ({n_it} Italian, {n_zh} Chinese), {sentences} "
        f"distinct sentences, {in_pieces} SentencePiece pieces ({chunks} model inputs). "
        f"Settings: beam {config.beam_size}, batch {config.batch_tokens} tokens, int8, "
        f"{threads} intra-op threads, 1 translator replica. "
        f"{'Quick mode. ' if quick else ''}Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}."),
        "",
        ("Two raw baselines: **raw, same batches** calls `translate_batch` once per batch of "
        "the batches tidings forms (same inputs, same `max_decoding_length` caps) — the "
        "pure CTranslate2 cost of tidings' work, against which its overhead is measured; "
        "**raw, one call** passes all pre-tokenised sentences of a package to one "
        "`translate_batch` (CTranslate2 batches internally) with one cap for all "
        "(2×longest+10), the naive use — with random weights its looser cap lets "
        "short sentences decode longer, see the output-pieces row."),
        "",
        ("| measure | tidings | raw, same batches | raw, one call "
        "| argostranslate (splitter substituted) |"),
        "|---|---:|---:|---:|---:|",
        (f"| seconds, median | {med['tidings']:.2f} | {med['same']:.2f} | {med['raw']:.2f} "
         f"| {med['argos']:.2f} |"),
        (f"| seconds, each run | {runs('tidings')} | {runs('same')} | {runs('raw')} "
         f"| {runs('argos')} |"),
        (f"| sentences / s | {rate('tidings')} | {rate('same')} | {rate('raw')} "
         f"| {rate('argos')} |"),
        (f"| output pieces per run (decoding work) | {out_pieces['tidings']} "
         f"| {out_pieces['same']} | {out_pieces['raw']} | {out_pieces['argos']} |"),
        (f"| time relative to tidings | 1.00 | {same_ratio:.2f} | {raw_ratio:.2f} "
         f"| {argos_ratio:.2f} |"),
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        (f"| tidings ≥ 0.9× raw throughput (raw, same batches) | {same_ratio:.2f}× | "
         f"{'yes' if same_ratio >= 0.9 else 'NO'} |"),
        (f"| (for reference: vs raw, one call) | {raw_ratio:.2f}× | "
         f"{'yes' if raw_ratio >= 0.9 else 'NO'} |"),
        (f"| tidings ≥ 3× faster than argostranslate | {argos_ratio:.2f}× | "
         f"{'yes' if argos_ratio >= 3 else 'NO'} |"),
        (f"| peak RSS, both packages loaded (separate process) | {rss['loaded']:.0f} MB "
        f"(after translating: {rss['peak']:.0f} MB; Python + imports: {rss['base']:.0f} MB) "
        "| — |"),
        "",
        (f"Package generation took {build_s:.1f} s; the first (warm-up) pass, including "
        f"loading both models, {first_s:.1f} s."),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--rss-child"]:
        _rss_child(argv[1], argv[2], int(argv[3]))
        return 0
    print(run(quick="--quick" in argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["bench_articles", "build_packages", "run"]
