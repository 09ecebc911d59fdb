"""CPU per page of the pure stages: page by page, against stage by stage over chunks.

    python -m bench.stage_order [--pages 600] [--rounds 4]

A worker process runs `Preparer.STAGES` over its whole chunk (`workers.CHUNK` pages) one
stage at a time (`WorkerPool`'s `stages`), not each page through every stage in turn.
This times both orders on the same pages of the generated web (`bench.newsweb`, English,
Italian and Chinese outlets), in this one process, the orders taking turns round by
round; it prints each round's CPU per page and their ratio, then the median ratio. Both
orders are checked to give the same fingerprints first.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.newsweb import build_web
from pipeline import charset
from pipeline.config import load_config
from pipeline.models import Page
from pipeline.prepare import Prepared, Preparer
from pipeline.workers import CHUNK, run_stages


def pages(count: int) -> list[Page]:
    web = build_web(50, 40, port=8000)
    urls = web.article_urls[:: max(1, len(web.article_urls) // count)][:count]
    out = []
    for url in urls:
        text, used, origin = charset.decode(web.pages[url], "text/html")
        out.append(Page(url=url, final_url=url, source="bench", status=200,
                        content_type="text/html", text=text, charset=used,
                        charset_origin=origin))
    return out


def page_by_page(prep: Preparer, batch: list[Page]) -> list[Any]:
    return [prep(page) for page in batch]


def stage_by_stage(prep: Preparer, batch: list[Page]) -> list[Any]:
    """What a worker does with its chunks (`workers.run_stages`)."""
    stages = [getattr(prep, name) for name in Preparer.STAGES]
    out: list[Any] = []
    for start in range(0, len(batch), CHUNK):
        out += [value for _ok, value in run_stages(stages, batch[start:start + CHUNK])]
    return out


def cpu_ms(run: Callable[[], object], n: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / n * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    batch = pages(args.pages)
    prep = Preparer(load_config(None, env={}), frozenset())
    one, two = page_by_page(prep, batch), stage_by_stage(prep, batch)  # also warms up

    def key(x: Any) -> Any:
        return x.fingerprint.to_json() if isinstance(x, Prepared) else str(x)

    if [key(x) for x in one] != [key(x) for x in two]:
        raise AssertionError("the two orders gave different fingerprints")
    print(f"{len(batch)} pages, chunks of {CHUNK}; CPU ms per page")
    ratios = []
    for n in range(args.rounds):
        turns = [("page by page", page_by_page), ("stage by stage", stage_by_stage)]
        got = {name: cpu_ms(functools.partial(f, prep, batch), len(batch))
               for name, f in (turns if n % 2 == 0 else turns[::-1])}
        ratios.append(got["stage by stage"] / got["page by page"])
        print(f"round {n + 1}: page by page {got['page by page']:.2f}, stage by stage "
              f"{got['stage by stage']:.2f}: {ratios[-1]:.3f}", flush=True)
    print(f"median ratio, stage by stage / page by page: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
