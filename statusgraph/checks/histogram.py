"""Response-time histograms for the check rollups (DESIGN §10).

Each hourly and daily rollup keeps one counter per bucket of `BOUNDS_MS`; two rollups
merge by adding counters (the SQL upsert does `bN = bN + excluded.bN`), so percentiles
over any hours or days need no raw result. An answer is an estimate within the bucket
it falls in: linear inside the bucket, and the last bucket (over 10 s) answers its lower
bound, a floor.
"""

import bisect
from collections.abc import Iterable, Sequence

BOUNDS_MS: tuple[int, ...] = (25, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000)
BUCKETS = len(BOUNDS_MS) + 1


def bucket_of(ms: float) -> int:
    """The bucket of a response time: bounds are inclusive upper bounds."""
    return bisect.bisect_left(BOUNDS_MS, ms)


def counts_of(samples: Iterable[float]) -> list[int]:
    counts = [0] * BUCKETS
    for sample in samples:
        counts[bucket_of(sample)] += 1
    return counts


def merge(a: Sequence[int], b: Sequence[int]) -> list[int]:
    return [left + right for left, right in zip(a, b, strict=True)]


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) estimated from bucket counts; None when empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total  # the rank-th sample, counted from 1, is the answer
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index == len(BOUNDS_MS):
                return float(BOUNDS_MS[-1])
            low = 0 if index == 0 else BOUNDS_MS[index - 1]
            high = BOUNDS_MS[index]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return float(BOUNDS_MS[-1])
