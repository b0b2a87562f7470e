"""The request families, counted from the stats lines the writer put on disk, so they agree with the JSONL.

``observe`` runs on the writer's flush thread with the lines of one write
(the dicts the rollups read too), never on the request path. Each line costs
a few dict and list operations: sums go into plain accumulators keyed by the
raw label values, and ``collect`` turns them into families at scrape time
(status classes, cumulative buckets). One lock per batch and per scrape.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from operator import itemgetter

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample

from lmgate.metrics import families as f
from lmgate.metrics.labels import UPSTREAM_FAILURES, ModelLabels, refusal_reason, status_class

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")
REQUESTS_TOTAL, TOKENS_TOTAL, COST_TOTAL = (x.name + "_total" for x in (f.REQUESTS, f.TOKENS, f.COST))
FIELDS = (
    "provider",
    "model",
    "owner",
    "key_id",
    "status",
    "stream",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_ms",
    "ttfb_ms",
    "gateway_ms",
    "error_type",
    "dlp",
)
_fields = itemgetter(*FIELDS)
_BOUNDS = (f.DURATION.buckets, f.TTFB.buckets, f.OVERHEAD.buckets)


class _Histograms:
    """Duration, TTFB and overhead of one (provider, model): per-bucket counts (not cumulative) and sums."""

    __slots__ = ("counts", "sums")

    def __init__(self) -> None:
        self.counts = [[0] * (len(b) + 1) for b in _BOUNDS]
        self.sums = [0.0, 0.0, 0.0]


class RequestCollector:
    def __init__(self, max_models: int) -> None:
        self.models = ModelLabels(max_models)
        self._lock = threading.Lock()
        # (provider, model, owner, key_id, status, stream) -> [requests, 5 token types, cost]
        self._sums: dict[tuple, list] = {}
        self._hists: dict[tuple[str, str], _Histograms] = {}
        self._refusals: dict[tuple[str, str], int] = {}
        self._upstream: dict[tuple[str, int], int] = {}
        self._dlp: dict[tuple[str, str, str], int] = {}
        self._labels_of: dict[tuple, tuple[tuple, tuple]] = {}  # raw key -> (who labels, request labels)
        # label values -> the sample's label dict (requests, tokens and cost have 6, 5 and 4 labels: no clash)
        self._dicts: dict[tuple, dict[str, str]] = {}

    def observe(self, records: Iterable[dict]) -> None:
        """Count stats lines (as written: dicts). Lines of an older format lack fields: read those one by one."""
        # Locals and inlined lookups: this loop runs once per request the gateway serves.
        models, known, sums, hists = self.models, self.models.known, self._sums, self._hists
        d_bounds, t_bounds, o_bounds = _BOUNDS
        with self._lock:
            for r in records:
                try:
                    row = _fields(r)
                except KeyError:
                    row = tuple(r.get(name) for name in FIELDS)
                provider, model, owner, key_id, status, stream, i, o, cr, cw, rs, cost, lat, ttfb, gw, err, dlp = row
                label = known.get(model)
                if label is None:
                    label = models(model)
                key = (provider, label, owner, key_id, status, stream)
                acc = sums.get(key)
                if acc is None:
                    acc = sums[key] = [0, 0, 0, 0, 0, 0, 0.0]
                acc[0] += 1
                if i:
                    acc[1] += i
                    acc[2] += o or 0
                    if cr:
                        acc[3] += cr
                    if cw:
                        acc[4] += cw
                    if rs:
                        acc[5] += rs
                elif o:
                    acc[2] += o
                if cost:
                    acc[6] += cost
                if err is not None:
                    self._count_error(provider, err, status)
                if dlp and dlp.get("findings"):
                    self._count_dlp(provider, dlp)
                if lat is None:
                    continue
                h = hists.get((provider, label))
                if h is None:
                    h = hists[(provider, label)] = _Histograms()
                counts, hsums = h.counts, h.sums
                lat /= 1000
                counts[0][bisect_left(d_bounds, lat)] += 1
                hsums[0] += lat
                if ttfb is not None:
                    ttfb /= 1000
                    counts[1][bisect_left(t_bounds, ttfb)] += 1
                    hsums[1] += ttfb
                if gw is not None:
                    gw /= 1000
                    counts[2][bisect_left(o_bounds, gw)] += 1
                    hsums[2] += gw

    def _count_error(self, provider: str, error_type: str, status: int) -> None:
        reason = refusal_reason(error_type)
        if reason is not None:
            self._refusals[(provider, reason)] = self._refusals.get((provider, reason), 0) + 1
        if error_type in UPSTREAM_FAILURES:
            self._upstream[(provider, status)] = self._upstream.get((provider, status), 0) + 1

    def _count_dlp(self, provider: str, dlp: dict) -> None:
        action = str(dlp.get("action") or "allow")
        for entity, n in dlp["findings"].items():
            if isinstance(n, int):
                key = (provider, str(entity), action)
                self._dlp[key] = self._dlp.get(key, 0) + n

    def describe(self) -> list[Metric]:
        return []  # families are made at scrape time; nothing for the registry to check up front

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            out = [*self._request_families(), *self._histogram_families(), *self._error_families()]
        yield from out

    def _request_families(self) -> list[Metric]:
        requests = CounterMetricFamily(f.REQUESTS.name, f.REQUESTS.help, labels=f.REQUESTS.labels)
        tokens = CounterMetricFamily(f.TOKENS.name, f.TOKENS.help, labels=f.TOKENS.labels)
        cost = CounterMetricFamily(f.COST.name, f.COST.help, labels=f.COST.labels)
        by_class: dict[tuple, int] = {}
        by_who: dict[tuple, list] = {}
        labels_of = self._labels_of
        for key, acc in self._sums.items():
            labels = labels_of.get(key)
            if labels is None:  # once per raw label set: they repeat from scrape to scrape
                provider, model, owner, key_id, status, stream = key
                who = (_s(provider), model, _s(owner), _s(key_id))
                labels = labels_of[key] = (who, (*who, status_class(status or 0), "true" if stream else "false"))
            who, cls = labels
            by_class[cls] = by_class.get(cls, 0) + acc[0]
            sums = by_who.get(who)
            if sums is None:
                by_who[who] = acc[1:]
            else:
                for j in range(6):
                    sums[j] += acc[j + 1]
        # Samples made here with label dicts kept between scrapes: add_metric would zip a new dict for each.
        append, names = requests.samples.append, f.REQUESTS.labels
        for labels, n in by_class.items():
            append(Sample(REQUESTS_TOTAL, self._dict(names, labels), n))
        append, cost_append = tokens.samples.append, cost.samples.append
        for who, sums in by_who.items():
            # a series appears with its first use, as the request series do: a key that never used cache
            # writes or reasoning, or an unpriced model, exports no zeros for them
            for j, token_type in enumerate(TOKEN_TYPES):
                if sums[j]:
                    append(Sample(TOKENS_TOTAL, self._dict(f.TOKENS.labels, (*who, token_type)), sums[j]))
            if sums[5]:
                cost_append(Sample(COST_TOTAL, self._dict(f.COST.labels, who), sums[5]))
        return [requests, tokens, cost]

    def _dict(self, names: tuple[str, ...], values: tuple) -> dict[str, str]:
        d = self._dicts.get(values)
        if d is None:
            d = self._dicts[values] = dict(zip(names, values, strict=True))
        return d

    def _histogram_families(self) -> list[Metric]:
        out = []
        for i, fam in enumerate((f.DURATION, f.TTFB, f.OVERHEAD)):
            metric = HistogramMetricFamily(fam.name, fam.help, labels=fam.labels)
            for (provider, model), h in self._hists.items():
                counts = h.counts[i]
                total = sum(counts)
                if not total:
                    continue
                buckets, seen = [], 0
                for bound, n in zip((*fam.buckets, float("inf")), counts, strict=True):
                    seen += n
                    buckets.append((_le(bound), seen))
                metric.add_metric((_s(provider), model), buckets, h.sums[i])
            out.append(metric)
        return out

    def _error_families(self) -> list[Metric]:
        refusals = CounterMetricFamily(f.REFUSALS.name, f.REFUSALS.help, labels=f.REFUSALS.labels)
        for (provider, reason), n in self._refusals.items():
            refusals.add_metric((_s(provider), reason), n)
        upstream = CounterMetricFamily(f.UPSTREAM_ERRORS.name, f.UPSTREAM_ERRORS.help, labels=f.UPSTREAM_ERRORS.labels)
        by_class: dict[tuple[str, str], int] = {}
        for (provider, status), n in self._upstream.items():
            key = (_s(provider), status_class(status or 0))
            by_class[key] = by_class.get(key, 0) + n
        for labels, n in by_class.items():
            upstream.add_metric(labels, n)
        dlp = CounterMetricFamily(f.DLP_FINDINGS.name, f.DLP_FINDINGS.help, labels=f.DLP_FINDINGS.labels)
        for (provider, entity, action), n in self._dlp.items():
            dlp.add_metric((_s(provider), entity, action), n)
        return [refusals, upstream, dlp]


def _s(value: object) -> str:
    """A label value: absent is the empty string (Prometheus treats both alike)."""
    return "" if value is None else str(value)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
