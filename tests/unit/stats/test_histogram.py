import math
import random

import pytest

from lmgate.stats import histogram as h


@pytest.mark.parametrize("ms", [0.0, 0.05, 0.1, 0.11, 1.0, 2.0, 999.999, 1000.0, 12345.6, h.MAX_MS * 0.99])
def test_a_value_lies_in_its_buckets_bounds(ms):
    lo, hi = h.bounds(h.bucket(ms))
    assert lo <= ms < hi


def test_the_ends():
    assert h.bucket(0) == 0 and h.estimate(0) == 0.0
    assert h.bucket(h.MAX_MS) == h.bucket(1e12) == h.LAST and h.bounds(h.LAST)[1] == math.inf
    assert h.estimate(h.LAST) == h.bounds(h.LAST)[0]
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError):
            h.bucket(bad)


def test_buckets_are_contiguous():
    for i in range(h.LAST):
        assert h.bounds(i)[1] == pytest.approx(h.bounds(i + 1)[0])


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_are_within_the_documented_error_of_the_exact_nearest_rank(seed):
    rnd = random.Random(seed)
    values = [rnd.lognormvariate(math.log(800), 1.2) for _ in range(rnd.randint(1, 3000))]
    counts: dict[int, int] = {}
    for v in values:
        counts[h.bucket(v)] = counts.get(h.bucket(v), 0) + 1
    ordered = sorted(values)
    qs = (0.5, 0.9, 0.99, 1.0)
    for q, got in zip(qs, h.quantiles(counts, qs), strict=True):
        exact = ordered[max(1, math.ceil(q * len(values))) - 1]
        assert abs(got - exact) <= exact * h.RELATIVE_ERROR + 0.001, (q, got, exact)


def test_no_samples_no_quantile():
    assert h.quantiles({}, (0.5, 0.99)) == [None, None]
    assert round(h.RELATIVE_ERROR, 4) == 0.0905
