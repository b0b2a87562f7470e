"""Process supervision for ``lmgate up``: start the sidecar and nginx, restart either one when it dies, stop
both in order on SIGINT/SIGTERM.

While the sidecar restarts, nginx keeps answering 503 in each provider's shape (fail closed); while nginx
restarts, the sidecar keeps its state. Restarts back off exponentially (0.1 s, 0.2 s, ... at most
``Backoff.cap``), from the start again once a child has run for ``Backoff.stable_after``; each restart is a
log line. The sidecar's start-up is mostly Python imports (about a second, more on a busy machine), so a
spare sidecar waits ready with its imports done (``lmgate serve --standby``, about 60 MB): a restart costs
the rest of its start, a few hundred milliseconds.

Each child runs in a process group of its own: a terminal's Ctrl-C reaches only the supervisor, which stops
the children in order (nginx gracefully first, so in-flight streams finish and their stats lines are
written, then the sidecar, which flushes them), and what a dead child leaves behind can be signalled as a
group: nginx's workers outlive a killed master and keep serving on its sockets, with its config, until told
to quit; the sidecar's DLP scanner processes would linger. Each child's stderr passes through
``logmask.copy_masked`` on its way to ours: no log line may hold a key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lmgate.logmask import copy_masked

log = logging.getLogger("lmgate.supervise")

POLL_S = 0.05
SPARE_AFTER_S = 2.0


@dataclass(slots=True)
class Backoff:
    """Delays before restarts: doubling from ``first`` up to ``cap``; back to ``first`` after a stable run."""

    first: float = 0.1
    cap: float = 10.0
    stable_after: float = 10.0
    _next: float = field(init=False, default=0.0)

    def delay(self, ran_for: float) -> float:
        if ran_for >= self.stable_after or self._next == 0.0:
            self._next = self.first
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay


@dataclass(slots=True)
class Child:
    """A supervised process: how to start it, how to stop it, how to clear what it leaves when it dies."""

    name: str
    argv: list[str]
    stop_signal: int  # the orderly stop: nginx SIGQUIT (graceful), the sidecar SIGTERM (flushes stats)
    leftovers_signal: int  # sent to the process group once the leader died by itself
    #: ``argv`` starts a spare that has done its slow start-up part (imports) and waits for a line on stdin:
    #: one is kept ready, so a restart costs only the rest
    standby: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restarts: int = 0
    due: float | None = None  # when a restart is scheduled (time.monotonic)
    spare: subprocess.Popen | None = None
    spare_due: float = 0.0  # when to make the next spare: not while the child itself starts, nor in a tight loop

    def start(self) -> None:
        if not self.standby:
            self.proc = self._spawn()
        else:
            self.proc = self._activate(self.spare) or self._activate(self._spawn())
            self.spare = None
            self.spare_due = time.monotonic() + SPARE_AFTER_S
        self.started = time.monotonic()

    def _spawn(self) -> subprocess.Popen:
        # a spare says on stdout when it is ready
        pipe_or_null = subprocess.PIPE if self.standby else subprocess.DEVNULL
        proc = subprocess.Popen(
            self.argv, process_group=0, stdin=pipe_or_null, stdout=pipe_or_null, stderr=subprocess.PIPE
        )
        threading.Thread(
            target=copy_masked, args=(proc.stderr, sys.stderr.buffer), name=f"{self.name} log", daemon=True
        ).start()
        return proc

    @staticmethod
    def _activate(proc: subprocess.Popen | None) -> subprocess.Popen | None:
        """Tell a waiting spare to serve; None if there is none, or it died meanwhile."""
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return None
        try:
            proc.stdin.write(b"serve\n")
            proc.stdin.close()
        except BrokenPipeError:
            return None
        if proc.stdout is not None:
            proc.stdout.close()  # its "ready" line is no news any more; it writes nothing else there
        return proc

    def keep_spare(self, now: float) -> None:
        """Have a spare waiting (standby children only), made once the running one had time to start."""
        if not self.standby:
            return
        if self.spare is not None and self.spare.poll() is None:
            out = self.spare.stdout
            if out is not None and not out.closed and select.select([out], [], [], 0)[0]:
                said = os.read(out.fileno(), 64)  # readable: its one line (imports done), or its end
                out.close()
                if said.startswith(b"ready"):
                    log.info("a spare %s is ready (pid %d)", self.name, self.spare.pid)
            return
        if now >= self.spare_due:
            self.spare = self._spawn()
            self.spare_due = now + SPARE_AFTER_S  # if this one dies too, the next one waits as long

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def signal_group(self, sig: int) -> None:
        """Signal the child's process group; the group may outlive its leader (nginx's workers)."""
        with contextlib.suppress(ProcessLookupError):  # nothing left
            os.killpg(self.pid, sig)

    def stop(self, timeout: float) -> None:
        if self.spare is not None and self.spare.poll() is None:
            self.spare.stdin.close()  # type: ignore[union-attr]  # end of input: a spare leaves without serving
            try:
                self.spare.wait(timeout)
            except subprocess.TimeoutExpired:
                self.spare.kill()
                self.spare.wait()
        if self.proc is None:
            return
        if self.proc.poll() is not None:  # died by itself: what it left behind must not outlive us
            self.signal_group(self.leftovers_signal)
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %.0f s; killing it", self.name, timeout)
            self.signal_group(signal.SIGKILL)
            self.proc.wait()


class Supervisor:
    """Runs ``children`` (started in order, stopped in reverse) until SIGINT or SIGTERM."""

    def __init__(self, children: list[Child], stop_timeout: float = 15.0) -> None:
        self.children = children
        self.stop_timeout = stop_timeout
        self.stopping = False

    def handle_signals(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

    def start_first(self, child: Child, ready: Callable[[], bool], timeout: float) -> bool:
        """Start ``child`` and wait until ``ready()``; False if it exits, the wait times out or we are stopped:
        at start-up a child that cannot come up is an error to report, not one to retry."""
        child.start()
        log.info("%s started (pid %d)", child.name, child.pid)
        deadline = time.monotonic() + timeout
        while not self.stopping and time.monotonic() < deadline:
            if child.exit_code() is not None:
                return False
            if ready():
                return True
            time.sleep(POLL_S)
        return False

    def run(self) -> int:
        """Supervise until stopped; then stop every child in reverse order. 0 after a requested stop."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                if child.due is not None:
                    if now >= child.due:
                        child.due = None
                        child.start()
                        log.info("%s restarted (pid %d)", child.name, child.pid)
                    continue
                code = child.exit_code()
                if code is not None:
                    self._schedule_restart(child, code, now)
                else:
                    child.keep_spare(now)
            time.sleep(POLL_S)
        self.stop()
        return 0

    def _schedule_restart(self, child: Child, code: int, now: float) -> None:
        child.signal_group(child.leftovers_signal)
        delay = child.backoff.delay(now - child.started)
        child.due = now + delay
        child.restarts += 1
        log.error(
            "%s (pid %d) %s; restarting it in %.1f s (restart %d)",
            child.name,
            child.pid,
            describe_exit(code),
            delay,
            child.restarts,
        )

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop(self.stop_timeout)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
