"""Prometheus metrics: the families (``families.py``), the request counters fed from written stats lines
(``requests.py``), the families read at scrape time (``scrape.py``), label bounds (``labels.py``), and
``Metrics``, the one object the gateway holds (``registry.py``)."""

from lmgate.metrics.registry import Metrics
from lmgate.metrics.scrape import Sources

__all__ = ["Metrics", "Sources"]
