"""Graceful stops: the first SIGINT/SIGTERM asks training to stop after its step (and save)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any, Iterator

log = logging.getLogger("ganedit.training")


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None


@contextlib.contextmanager
def graceful_stop() -> Iterator[StopFlag]:
    """Turn the first SIGINT/SIGTERM into a request to stop after the current step.

    A second signal gets the previous handler (for Ctrl-C: an immediate KeyboardInterrupt).
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    signums = [signal.SIGINT, signal.SIGTERM]
    old = {s: signal.getsignal(s) for s in signums}

    def handler(signum: int, frame: Any) -> None:
        flag.requested, flag.signum = True, signum
        for s in signums:
            signal.signal(s, old[s])
        log.warning("received signal %d: stopping after this step (send again to abort now)", signum)

    for s in signums:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s in signums:
            signal.signal(s, old[s])


@contextlib.contextmanager
def closing(progress: Any) -> Iterator[None]:
    try:
        yield
    finally:
        if callable(getattr(progress, "close", None)):
            progress.close()
