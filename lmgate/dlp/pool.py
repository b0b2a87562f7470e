"""Scanner processes: presidio is CPU-bound Python, so a scan in a thread would still hold the GIL
and stall the sidecar's event loop; worker processes keep it free.

Workers are spawned (not forked: the sidecar runs an event loop and a writer
thread), build their Detector once in the initializer, and are warmed up before
the first request. A worker stops a many-field scan itself once the time budget
is spent, so a slow scan frees its worker early.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector, Finding

log = logging.getLogger("lmgate.dlp")

_DETECTOR: Detector | None = None  # one per worker process


class ScanTimeout(Exception):
    """The scan did not finish within ``max_scan_ms``."""


def find_all(detector: Detector, texts: list[str], budget_s: float) -> list[list[Finding]] | None:
    """Findings per text, or None once ``budget_s`` is spent (checked between texts)."""
    deadline = time.monotonic() + budget_s
    out = []
    for text in texts:
        if time.monotonic() > deadline:
            return None
        out.append(detector.find(text))
    return out


def _init_worker(cfg_json: str) -> None:
    global _DETECTOR
    _DETECTOR = Detector(DlpConfig.model_validate_json(cfg_json))
    _DETECTOR.warm_up()


def _ready() -> int:
    return os.getpid()


def _find_all_in_worker(texts: list[str], budget_s: float) -> list[list[Finding]] | None:
    assert _DETECTOR is not None, "worker started without its initializer"
    return find_all(_DETECTOR, texts, budget_s)


class ScanPool:
    """A fixed set of warmed-up scanner processes behind an async ``find_all``."""

    def __init__(self, cfg: DlpConfig) -> None:
        self.cfg = cfg
        self._executor: ProcessPoolExecutor | None = None
        self._restarting = asyncio.Lock()
        self._restart_task: asyncio.Task | None = None

    async def start(self) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=self.cfg.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.cfg.model_dump_json(),),
        )
        loop = asyncio.get_running_loop()
        # one task per worker at once: with none idle yet, each spawns (and initializes) its own process
        pids = await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.cfg.workers)))
        log.info("dlp: %d scanner process(es) ready: %s", len(set(pids)), sorted(set(pids)))

    async def find_all(self, texts: list[str], budget_s: float) -> list[list[Finding]]:
        """Findings per text; ScanTimeout when the budget (queueing included) runs out."""
        if self._executor is None:
            raise RuntimeError("ScanPool.start() was not awaited")
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        executor = self._executor
        try:  # submit raises too once the pool knows it is broken
            future = loop.run_in_executor(executor, _find_all_in_worker, texts, budget_s)
            result = await asyncio.wait_for(future, budget_s)
        except TimeoutError:
            raise ScanTimeout from None
        except BrokenProcessPool:
            # this request fails closed now; the replacement pool starts in the background
            if self._restart_task is None or self._restart_task.done():
                log.error("dlp: a scanner process died; starting a new pool")
                self._restart_task = asyncio.create_task(self._restart(executor))
            raise
        if result is None:
            raise ScanTimeout
        log.debug("dlp: pool scan of %d field(s) took %.1f ms", len(texts), (time.monotonic() - started) * 1000)
        return result

    @property
    def restarting(self) -> bool:
        """A scanner process died and its replacement pool is starting."""
        return self._restart_task is not None and not self._restart_task.done()

    async def _restart(self, broken: ProcessPoolExecutor) -> None:
        async with self._restarting:
            if self._executor is not broken:
                return  # another request already replaced it
            broken.shutdown(wait=False, cancel_futures=True)
            await self.start()

    async def close(self) -> None:
        if self._restart_task is not None:
            self._restart_task.cancel()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
