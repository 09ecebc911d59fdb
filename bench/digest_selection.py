"""How fast the digest finds its stories in a large store, with and without the index
made for it (migration m004, `idx_stories_unsent`).

    python bench/digest_selection.py            # 100,000 stories, a fifth flagged, none sent

The store is made with the real migrations (`Store.open`) and filled with synthetic
stories, one every 7 minutes back from now; the digest's query (`Store.digest_stories`'s
selection, ordered by importance) is timed as the median of 20 runs, then again after
dropping the index. Prints the query plans and the times.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.store import Store

SELECT = ("SELECT id FROM stories WHERE flagged = 1 AND digest_id IS NULL AND last_seen >= ? "
          "ORDER BY importance IS NULL, importance DESC, first_seen DESC, id DESC LIMIT 500")


def main(count: int = 100_000) -> None:
    rng = random.Random(1)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "tidings.db")
        rows = []
        for i in range(count):
            seen = (now - timedelta(minutes=7 * i)).isoformat()
            rows.append((f"story {i}", seen, seen, 1, "[]", "[]", int(rng.random() < 0.2),
                         seen, rng.random() * 10))
        store.db.conn.executemany(
            "INSERT INTO stories (title_en, first_seen, last_seen, article_count, languages, "
            "entities, flagged, created_at, importance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows)
        store.db.conn.commit()
        since = (now - timedelta(days=7)).isoformat()
        for label in ("with idx_stories_unsent", "without it"):
            if label == "without it":
                store.db.execute("DROP INDEX idx_stories_unsent")
            plan = [r[3] for r in store.db.conn.execute(f"EXPLAIN QUERY PLAN {SELECT} -- {label}",
                                                        [since])]
            times = []
            for _ in range(20):
                started = time.perf_counter()
                found = len(store.db.execute(SELECT, [since]).fetchall())
                times.append((time.perf_counter() - started) * 1000)
            print(f"{label}: {found} stories in {statistics.median(times):.2f} ms "
                  f"(median of 20); plan: {'; '.join(plan)}")
        store.close()


if __name__ == "__main__":
    main()
