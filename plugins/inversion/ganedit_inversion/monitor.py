"""Per-step reporting for inverters: progress bars and scalar logging through one object.

``Inverter.invert(..., callback=...)`` accepts either ``None``, a plain callable
``callback(step: int, scalars: dict[str, float])`` or a :class:`Monitor` (the ``invert`` task passes
one that draws ``context.progress`` bars and writes tensorboard scalars). Nested inverters report
through ``monitor.child('initial')`` so their scalars get a prefix.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

Scalars = dict[str, float]


class Monitor:
    """Progress bars and per-step scalars for one inversion (silent by default)."""

    def __init__(self, log: Callable[[int, Scalars], None] | None = None,
                 progress: Callable[..., Iterable] | None = None, prefix: str = "",
                 check: Callable[[str, int, dict[str, Any]], None] | None = None):
        self._log = log
        self._progress = progress
        self.prefix = prefix
        self._check = check

    def steps(self, n: int, desc: str) -> Iterable[int]:
        """``range(n)`` wrapped in a progress bar when one was given."""
        rng = range(n)
        if self._progress is None:
            return rng
        return self._progress(rng, total=n, desc=f"{self.prefix}{desc}")

    def log(self, step: int, scalars: Scalars) -> None:
        if self._log is not None:
            self._log(step, {f"{self.prefix}{k}": float(v) for k, v in scalars.items()})

    def hook(self, method: str, step: int, state: dict[str, Any]) -> None:
        """Test/debug hook called once per step with the method's live state (e.g. the tuned G)."""
        if self._check is not None:
            self._check(f"{self.prefix}{method}", step, state)

    def child(self, name: str) -> "Monitor":
        return Monitor(self._log, self._progress, f"{self.prefix}{name}/", self._check)


def as_monitor(callback: Any) -> Monitor:
    """Wrap whatever was passed as ``callback`` into a :class:`Monitor`."""
    if isinstance(callback, Monitor):
        return callback
    if callback is None:
        return Monitor()
    if callable(callback):
        return Monitor(log=callback)
    raise TypeError(f"callback must be None, a Monitor or callable(step, scalars), got {type(callback).__name__}")
