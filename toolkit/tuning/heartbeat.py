"""Liveness of distributed workers, as files in ``<sweep>/workers/`` touched every few seconds.

A trial may rightly run for hours without a word to the chief, so the chief judges a
worker by its heartbeat file instead of by its silence.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path


class Heartbeat:
    """Touches ``path`` every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, path: Path, *, interval: float) -> None:
        self.path = Path(path)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="sweep-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 1)
        self.path.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(
                OSError
            ):  # a full or briefly missing disk must not kill training
                self.path.touch()

    @staticmethod
    def fresh(path: Path, *, timeout: float) -> bool:
        """Whether the heartbeat file ``path`` was touched within ``timeout`` seconds."""
        try:
            return time.time() - Path(path).stat().st_mtime <= timeout
        except OSError:
            return False

    @staticmethod
    def alive(directory: Path, *, timeout: float) -> set[str]:
        """Names (file stems) of the heartbeats in ``directory`` touched within ``timeout`` s."""
        now = time.time()
        names = set()
        for path in Path(directory).glob("*.beat"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime <= timeout:
                    names.add(path.stem)
        return names
