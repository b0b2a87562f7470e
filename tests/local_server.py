"""What the tests' own server processes share: a free 127.0.0.1 port, a temp dir, a stop by PID."""

from __future__ import annotations

import shutil
import subprocess
from typing import Self

from tests.ports import free_port

__all__ = ["LocalServer", "free_port"]


class LocalServer:
    """A child process the test started (``proc``) and its temp dir (``dir``); ``start`` is the subclass's."""

    proc: subprocess.Popen[bytes] | None = None
    dir: object = None  # str or Path of the temp dir, removed on stop

    def start(self) -> Self:
        raise NotImplementedError

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # by PID: this object's own child
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self._kill()
        if self.dir is not None:
            shutil.rmtree(str(self.dir), ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
