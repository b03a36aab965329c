"""Ctrl-C as a request, not an exception: the first one asks the loop to stop after the frame in
hand (so every row written is whole and the files are closed properly); a second one aborts."""
from __future__ import annotations

import signal
import threading


class GracefulInterrupt:
    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def install(self) -> "GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
