"""Write the labelled story set as JSONL: `python scripts/export_labelled.py`.

The set lives as one `.txt` file per article in tests/data/stories/ (format and loader:
tests/stories_eval.py). Other tools (a pipeline run, another clusterer) read the JSONL
instead: one object per article, in the loader's order, with the fields
id, event, lang, title, text, published, fetched, title_en, text_en, dup_of, group
(`event` is the labelled story; empty strings and missing parts are null).
`--check` only compares and exits 1 if the file is stale; `--summary` prints the count
tables of tests/data/stories/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.stories_eval import DATA, Item, cross_language_pairs, load_items

OUT = DATA / "labelled.jsonl"


def record(item: Item) -> dict[str, Any]:
    """One article as a JSON object (None for what the .txt file does not give)."""
    return {"id": item.id, "event": item.story, "lang": item.lang,
            "title": item.title or None, "text": item.text,
            "published": item.published or None, "fetched": item.fetched or None,
            "title_en": item.title_en, "text_en": item.text_en, "dup_of": item.dup_of,
            "group": item.group}


def render(items: list[Item]) -> str:
    return "".join(json.dumps(record(it), ensure_ascii=False) + "\n" for it in items)


def summary(items: list[Item]) -> str:
    """Markdown tables: articles per group and language, stories, cross-language pairs."""
    langs = ("en", "it", "zh")
    count = Counter((it.group, it.lang) for it in items)
    lines = ["| group | en | it | zh | articles | stories |", "|---|---|---|---|---|---|"]
    for group in ("seeds", "written", "realworld", ""):
        part = [it for it in items if group in ("", it.group)]
        cells = [str(sum(count[(g, lang)] for g in ([group] if group else
                                                     ["seeds", "written", "realworld"])))
                 for lang in langs]
        lines.append(f"| {group or 'all'} | {' | '.join(cells)} | {len(part)} | "
                     f"{len({it.story for it in part})} |")
    stories: dict[str, list[Item]] = {}
    for it in items:
        stories.setdefault(it.story, []).append(it)
    multi = [s for s in stories.values() if len(s) > 1]
    multilingual = [s for s in multi if len({it.lang for it in s}) > 1]
    pair_langs: Counter[str] = Counter()
    for a, b in itertools.combinations([it for it in items if not it.dup_of], 2):
        if a.story == b.story and a.lang != b.lang:
            pair_langs["–".join(sorted((a.lang, b.lang)))] += 1
    lines += [
        "",
        (f"- stories: {len(stories)}, of which {len(multi)} with two or more articles and "
         f"{len(multilingual)} in two or more languages; "
         f"{len(stories) - len(multi)} single-article stories"),
        (f"- same-story pairs: {sum(len(s) * (len(s) - 1) // 2 for s in multi)}; "
         f"cross-language pairs: {cross_language_pairs(items)}, "
         f"{cross_language_pairs(items, copies=False)} without the labelled copies ("
         + ", ".join(f"{k} {v}" for k, v in sorted(pair_langs.items())) + ")"),
        (f"- labelled near-duplicates (dup_of): {sum(1 for it in items if it.dup_of)}; "
         f"undated articles: {sum(1 for it in items if not it.published)} "
         f"({sum(1 for it in items if not it.published and it.fetched)} with a fetch time)"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--summary", action="store_true", help="print the count tables only")
    args = parser.parse_args(argv)
    items = load_items()
    if args.summary:
        print(summary(items))
        return 0
    text = render(items)
    if args.check:
        current = args.out.read_text("utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python scripts/export_labelled.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, "utf-8")
    stories = {it.story for it in items}
    print(f"{args.out}: {len(items)} articles, {len(stories)} stories, "
          f"{cross_language_pairs(items)} cross-language pairs "
          f"({cross_language_pairs(items, copies=False)} without labelled copies)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
