"""Benchmark of the datasette canned queries on a large store.

    python bench/bench_queries.py            # 100k articles
    python bench/bench_queries.py --quick    # 10k articles, fewer runs

`run(quick)` returns a markdown section for docs/benchmarks.md. A store is made with the
real migrations (`Store.open`), then filled in bulk with synthetic articles (English,
Italian, Chinese; 1-3 KB of text each, translations for most of the others), their
full-text rows in the real search form (`pipeline.fts.search_form`), stories (1-4
articles each, a third flagged) and a fetch log, spread over one year. Then a real
datasette process (`pipeline.serve.datasette_command`) answers the canned queries through
its HTTP JSON API; each figure is the median of several timed requests after one warm-up.
The same SQL run directly in sqlite3 (with the plugin's functions registered) is the
reference: the difference is datasette's and HTTP's share.

Target (issue 7): new_developments and search answer in under 200 ms at 100k articles.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import fmt, reproduce, table, verdict
from pipeline import fts
from pipeline.config import load_config
from pipeline.serve import DATABASE, datasette_command, datasette_dir, load_plugin
from pipeline.store import Store

TARGET_MS = 200.0
SOURCES = [("evwire", "en"), ("drivelines", "en"), ("reuters-autos", "en"),
           ("cnevpost", "en"), ("autoblog-it", "it"), ("motori", "it"),
           ("qiche", "zh"), ("sina-auto", "zh")]
# (query name, parameters, what it shows)
CASES = [
    ("new_developments", {}, "flagged stories of the last 7 days"),
    ("search", {"q": "Yizhuang"}, "a rare word"),
    ("search", {"q": "小米"}, "a Chinese word"),
    ("search", {"q": "Xiaomi"}, "a common word"),
    ("search", {"q": "battery plant"}, "two very common words"),
    ("story_coverage", {"story_id": "1000"}, "one story's articles"),
    ("source_health", {}, "per source, over the whole fetch log"),
    ("translation_backlog", {}, "pending and failed by language"),
]
TARGETED = {"new_developments", "search"}
# The first version of the search query: the snippet came from a join with the FTS table,
# which SQLite ran as a second full MATCH scan (before/after in the section).
FIRST_SEARCH_SQL = """
with hits as (
  select rowid as id, bm25(articles_fts, 5.0, 1.0, 5.0, 1.0) as score
  from articles_fts where articles_fts match tidings_fts_query(:q) order by score limit 100
)
select a.id as article_id, a.story_id, a.source, a.lang, a.title,
  coalesce(a.title_en, case when a.lang = 'en' then a.title end) as title_en,
  tidings_plain(snippet(articles_fts, -1, '«', '»', '…', 24)) as snippet,
  a.url, a.published_at, round(-hits.score, 2) as score
from hits
join articles_fts on articles_fts.rowid = hits.id
join articles a on a.id = hits.id
where articles_fts match tidings_fts_query(:q)
order by hits.score, a.id"""

def _words(text: str) -> list[str]:
    return text.split()


_EN = _words("""the a of to in and for on with that by from at as is was will has its said
company vehicle vehicles electric car cars market sales deliveries production plant factory
battery batteries cell cells capacity price model models launch quarter year month China
Chinese Beijing Shanghai government investment billion million yuan percent new first
second growth demand supply chain charging range software driver assistance platform
orders buyers dealers export exports Europe European tariff tariffs analysts report""")
_IT = _words("""il la di che e a in un una per con non sono del della nel nella dei delle
auto veicoli elettrica elettriche mercato vendite produzione stabilimento fabbrica batteria
batterie prezzo modello lancio trimestre anno mese Cina cinese Pechino governo investimento
miliardi milioni euro crescita domanda consegne ricarica autonomia ordini Europa dazi""")
_ZH = list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年"
           "动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高"
           "自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四"
           "日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此"
           "变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文"
           "总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农"
           "指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导"
           "器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带"
           "安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今"
           "集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验"
           "连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准"
           "精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适"
           "属圆包火住调满县局照参红细引听该铁价严龙飞")
_ENTITY = {"en": ["Xiaomi", "BAIC", "Lei Jun", "BAIC BluePark", "Arcfox"],
           "it": ["Xiaomi", "BAIC", "Lei Jun"],
           "zh": ["小米", "北汽", "雷军", "北汽蓝谷", "极狐"]}


# ------------------------------------------------------------------------------ the store
class Synth:
    """Synthetic articles: documents are built from a pool of generated sentences, so the
    index has realistic posting lists without generating 200 MB word by word."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.pool = {lang: [self._sentence(lang) for _ in range(4000)]
                     for lang in ("en", "it", "zh")}

    def _sentence(self, lang: str) -> str:
        rng = self.rng
        if lang == "zh":
            chars = rng.choices(_ZH, k=rng.randint(25, 45))
            return "".join(chars) + "。"
        vocab = _EN if lang == "en" else _IT
        # Zipf-like: early words of the list are frequent.
        weights = [1 / (i + 1) ** 0.8 for i in range(len(vocab))]
        words = rng.choices(vocab, weights=weights, k=rng.randint(12, 24))
        words += [f"w{rng.randint(0, 30000)}" for _ in range(rng.randint(1, 4))]  # rare terms
        rng.shuffle(words)
        return " ".join(words).capitalize() + "."

    def text(self, lang: str, extra: list[str]) -> str:
        rng = self.rng
        target = rng.randint(1000, 3000)  # bytes
        per = 3 if lang == "zh" else 1
        out: list[str] = []
        size = 0
        while size < target:
            sentence = rng.choice(self.pool[lang])
            out.append(sentence)
            size += len(sentence) * per
        for term in extra:
            out.insert(rng.randrange(len(out) + 1), term)
        return " ".join(out) if lang != "zh" else "".join(out)

    def mentions(self, lang: str) -> tuple[list[str], list[str]]:
        """(entity watch names, sentences mentioning them and the topic words)."""
        rng = self.rng
        sentences: list[str] = []
        entities: set[str] = set()
        if rng.random() < (0.2 if lang == "zh" else 0.25):
            alias = rng.choice(_ENTITY[lang][:1] + _ENTITY[lang])
            entities.add("BAIC" if alias in ("BAIC", "北汽", "BAIC BluePark", "北汽蓝谷",
                                             "Arcfox", "极狐") else "Xiaomi")
            word = {"en": "Xiaomi", "it": "Xiaomi", "zh": "小米"}[lang]
            sentences.append(f"{alias} {word} 汽车工厂。" if lang == "zh" else
                             f"{alias} and {word} announced new plans.")
        if lang != "zh" and rng.random() < 0.1:
            sentences.append("The battery plant will open next year." if lang == "en"
                             else "Lo stabilimento battery plant aprirà l'anno prossimo.")
        if rng.random() < 0.01:
            sentences.append("Yizhuang" if lang != "zh" else "亦庄")
        return sorted(entities), sentences


def build_store(path: Path, n_articles: int) -> dict[str, int]:
    """A store of `n_articles` synthetic articles over the last 365 days."""
    Store.open(path).close()  # the real schema
    synth = Synth()
    rng = synth.rng
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=365).total_seconds()
    times = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(n_articles))
    articles: list[tuple[Any, ...]] = []
    fts_rows: list[tuple[Any, ...]] = []
    stories: list[tuple[Any, ...]] = []
    story_id = 0
    remaining = 0
    story: dict[str, Any] = {}
    status_counts: dict[str, int] = {}

    def close_story() -> None:
        if story:
            stories.append((story["id"], story["title"], story["first"], story["last"],
                            story["count"], json.dumps(sorted(story["langs"])),
                            json.dumps(sorted(story["entities"])), story["flagged"],
                            story["lead"], story["first"]))

    for i, when in enumerate(times, start=1):
        source, lang = SOURCES[rng.randrange(len(SOURCES))]
        entities, extra = synth.mentions(lang)
        text = synth.text(lang, extra)
        title = synth.text(lang, [])[: 60 if lang != "zh" else 25]
        if entities and lang != "zh":
            title = f"{entities[0]}: {title}"
        if lang == "en":
            status, title_en, text_en = "not_needed", None, None
        else:
            roll = rng.random()
            status = "done" if roll < 0.8 else "pending" if roll < 0.95 else "failed"
            if status == "done":
                _, en_extra = synth.mentions("en")
                title_en = synth.text("en", [])[:60]
                text_en = synth.text("en", en_extra + (["Xiaomi"] if entities else []))
            else:
                title_en = text_en = None
        status_counts[status] = status_counts.get(status, 0) + 1
        seen = when.isoformat()
        if remaining == 0:
            close_story()
            story_id += 1
            remaining = rng.choice([1, 1, 2, 2, 3, 4])
            story = {"id": story_id, "title": title_en or title, "first": seen, "last": seen,
                     "count": 0, "langs": set(), "entities": set(), "lead": i,
                     "flagged": int(bool(entities) and rng.random() < 0.7)}
        remaining -= 1
        story["last"] = seen
        story["count"] += 1
        story["langs"].add(lang)
        story["entities"].update(entities)
        articles.append((
            i, f"https://{source}.example/{when:%Y/%m/%d}/{i}.html", source, title, text, lang,
            0.99, title_en, text_en, status, "stand-in" if status == "done" else None,
            "synthetic failure" if status == "failed" else None, seen, seen,
            hashlib.blake2b(text.encode(), digest_size=16).hexdigest(), story_id,
            int(bool(entities)), json.dumps(entities)))
        fts_rows.append((i, fts.search_form(title), fts.search_form(text),
                         fts.search_form(title_en), fts.search_form(text_en)))
    close_story()
    fetches = [(f"https://{s}.example/{k}", s, "article", 200 if rng.random() > 0.03 else 503,
                None, t.isoformat(), rng.randint(50, 900), rng.randint(5000, 90000))
               for k, t in enumerate(times) for s in [SOURCES[k % len(SOURCES)][0]]]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")  # a bulk load: no journal, WAL again after
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO articles (id, url, source, title, text, lang, lang_confidence, "
        "title_en, text_en, translation_status, translation_package, translation_error, "
        "published_at, fetched_at, content_hash, story_id, relevant, entities) "
        "VALUES (" + ",".join("?" * 18) + ")", articles)
    conn.executemany("INSERT INTO articles_fts (rowid, title, text, title_en, text_en) "
                     "VALUES (?, ?, ?, ?, ?)", fts_rows)
    conn.executemany(
        "INSERT INTO stories (id, title_en, first_seen, last_seen, article_count, "
        "languages, entities, flagged, lead_article_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", stories)
    conn.executemany("INSERT INTO fetches (url, source, kind, status, error, fetched_at, "
                     "elapsed_ms, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", fetches)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return {"articles": n_articles, "stories": story_id,
            "flagged": sum(s[7] for s in stories), "fetches": len(fetches),
            "bytes": path.stat().st_size, **{f"status_{k}": v for k, v in status_counts.items()}}


# ------------------------------------------------------------------------------ timing
def canned_queries() -> dict[str, str]:
    meta = yaml.safe_load((datasette_dir() / "metadata.yml").read_text("utf-8"))
    return {name: q["sql"] for name, q in meta["databases"][DATABASE]["queries"].items()}


def time_direct(path: Path, sql: str, params: dict[str, str], runs: int) -> tuple[float, int]:
    plugin = load_plugin()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.create_function("tidings_fts_query", 1, fts.fts_query, deterministic=True)
    conn.create_function("tidings_plain", 1, plugin.plain, deterministic=True)
    conn.create_function("tidings_summary", 2, plugin.summarize, deterministic=True)
    if ":_fts_q" in sql:  # the search query's magic parameter, as the plugin makes it
        params = {**params, "_fts_q": fts.fts_query(params.get("q"), strict=True)}
    rows = conn.execute(sql, params).fetchall()  # warm-up
    laps = []
    for _ in range(runs):
        started = time.perf_counter()
        rows = conn.execute(sql, params).fetchall()
        laps.append((time.perf_counter() - started) * 1000)
    conn.close()
    return statistics.median(laps), len(rows)


def count_matches(path: Path, q: str) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM articles_fts WHERE articles_fts "
                                "MATCH ?", [fts.fts_query(q)]).fetchone()[0])


def time_http(client: httpx.Client, name: str, params: dict[str, str],
              runs: int) -> tuple[float, int]:
    url = f"/{DATABASE}/{name}.json"
    query = {**params, "_shape": "array"}
    response = client.get(url, params=query)  # warm-up
    response.raise_for_status()
    laps = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, params=query)
        laps.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(laps), len(response.json())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(directory: Path, db: Path) -> tuple[subprocess.Popen[bytes], str]:
    config_path = directory / "tidings.toml"
    config_path.write_text(f'[store]\npath = "{db}"\n', "utf-8")
    config = load_config(config_path)
    port = free_port()
    proc = subprocess.Popen(datasette_command(config, port=port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/-/versions.json", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("datasette did not start within 30 s")


def measure(db: Path, directory: Path, runs: int) -> list[dict[str, Any]]:
    sql = canned_queries()
    proc, base = serve(directory, db)
    results = []
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for name, params, about in CASES:
                http_ms, n = time_http(client, name, params, runs)
                direct_ms, n_direct = time_direct(db, sql[name], params, runs)
                result = {"query": name, "params": params, "about": about, "rows": n,
                          "http_ms": http_ms, "direct_ms": direct_ms, "rows_direct": n_direct}
                if name == "search":
                    result["matches"] = count_matches(db, params["q"])
                    result["first_ms"] = time_direct(db, FIRST_SEARCH_SQL, params, runs)[0]
                results.append(result)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


# ------------------------------------------------------------------------------ the section
def run(quick: bool = False) -> str:
    n = 10_000 if quick else 100_000
    runs = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="tidings-bench-queries-") as tmp:
        directory = Path(tmp)
        db = directory / "tidings.db"
        started = time.perf_counter()
        facts = build_store(db, n)
        build_s = time.perf_counter() - started
        results = measure(db, directory, runs)
    rows = []
    before_after = []
    met = True
    for r in results:
        label = r["query"] + (f" `{r['params']['q']}`" if "q" in r["params"] else "")
        targeted = r["query"] in TARGETED
        ok = r["http_ms"] < TARGET_MS
        met &= ok or not targeted
        ratio = r["http_ms"] / r["direct_ms"] if r["direct_ms"] > 0 else float("nan")
        what = r["about"] + (f" ({r['matches']:,} matching articles)" if "matches" in r else "")
        rows.append([label, what, fmt(r["rows"]), fmt(r["http_ms"], 1),
                     fmt(r["direct_ms"], 2), f"{ratio:.1f}×",
                     ("yes" if ok else "**no**") if targeted else "–"])
        if "first_ms" in r:
            before_after.append([label, fmt(r["matches"]), fmt(r["first_ms"], 1),
                                 fmt(r["direct_ms"], 1)])
    lines = [
        "## Datasette canned queries (bench_queries)",
        "",
        (f"A store of {facts['articles']:,} synthetic articles (en/it/zh, 1–3 KB of text, "
         f"translations for 80% of the others), {facts['stories']:,} stories "
         f"({facts['flagged']:,} flagged) and {facts['fetches']:,} fetches over one year; "
         f"{facts['bytes'] / 2**20:.0f} MB on disk, built in {build_s:.0f} s. Times are the "
         f"median of {runs} requests to a real `tidings serve` datasette process (JSON API, "
         "`_shape=array`) after one warm-up, and of the same SQL run directly in sqlite3 "
         "(ratio = HTTP / sqlite3: datasette's and HTTP's share)."),
        "",
        table(["query", "what", "rows", "HTTP ms", "sqlite3 ms", "ratio", "< 200 ms"], rows,
              "llrrrrc"),
        "",
        f"Target: new_developments and search under {TARGET_MS:.0f} ms at 100k articles: "
        + verdict(met) + ("" if not quick else " (quick run: 10k articles)") + ".",
        "",
        ("Search costs what ranking every matching article costs (bm25), so it grows with the "
        "number of matches, not with the store. No index helps there; what did help was "
        "the query's shape: the first version took the highlighted snippet from a join with "
        "the full-text table, which SQLite ran as a second full MATCH scan over every "
        "matching article; now the snippet is a subquery that looks up only the 100 shown "
        "(`rowid = ?`). new_developments reads `idx_stories_flagged (flagged, first_seen)` "
        "and `idx_articles_story_cover` (migration m005; it replaced the first migration's "
        "`idx_articles_story`)."),
        "",
        table(["search (sqlite3)", "matches", "first version ms", "now ms"], before_after),
        "",
        reproduce("python bench/run.py --only queries"),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(quick=args.quick))


if __name__ == "__main__":
    main()
