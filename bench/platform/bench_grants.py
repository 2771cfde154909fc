"""GrantDirectory.active_grants latency: the lookup enforcement makes on every request.

Usage: PYTHONPATH=. python bench/platform/bench_grants.py [--database-url URL] [--grants N]
Creates N grants spread over N/4 subjects (4 datasets each) in a fresh database, then times
2,000 lookups of random subjects (each a fresh connection checkout and one indexed query).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.db import make_engine
from common.migrations import upgrade
from config.wiring.platform import MIGRATIONS
from platform_provider.ports import Grant
from platform_provider.storage.sql import SqlGrantDirectory, SqlPlatformStore, application_t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--grants", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
    engine = make_engine(url)
    for mset in MIGRATIONS:
        upgrade(engine, mset)
    now = datetime.now(UTC)
    subjects = [f"sub-{i:06d}" for i in range(max(1, args.grants // 4))]
    store = SqlPlatformStore(engine)
    with store.transaction() as tx:
        tx.conn.execute(application_t.insert().values(
            application_id="DAA-BENCH", state="active", institution="i", project_title="t",
            applicant_subject="s", search_text="", created_at=0, updated_at=0, version=1,
            body="{}"))
        grants = [
            Grant(f"g-{s}-{d}", s, f"ds-{d}", "DUO:0000006", "DAA-BENCH",
                  now - timedelta(days=1), now + timedelta(days=30))
            for s in subjects for d in range(4)
        ]
        tx.upsert_grants(grants)
    directory = SqlGrantDirectory(engine)
    rng = random.Random(1)
    for _ in range(100):  # warm the pool and caches
        directory.active_grants(rng.choice(subjects), now)
    samples = []
    for _ in range(args.lookups):
        subject = rng.choice(subjects)
        t0 = time.perf_counter()
        found = directory.active_grants(subject, now)
        samples.append((time.perf_counter() - t0) * 1000)
        assert len(found) == 4
    samples.sort()
    print(f"backend={engine.dialect.name} grants={len(grants)} lookups={args.lookups}")
    print(f"p50={statistics.median(samples):.3f} ms p95={samples[int(len(samples) * 0.95)]:.3f} ms"
          f" p99={samples[int(len(samples) * 0.99)]:.3f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
