"""Errors raised by the inversion plugin (all carry one clear line for the user)."""

from __future__ import annotations

from ganedit.errors import GanEditError


class InversionError(GanEditError, RuntimeError):
    """An inversion that cannot run or cannot finish (missing part, incompatible input)."""


class TuningDiverged(InversionError):
    """A loss or an image became NaN/inf during optimisation or tuning; the image is abandoned."""

    def __init__(self, method: str, step: int, what: str):
        self.method = method
        self.step = step
        self.what = what
        super().__init__(f"{method}: {what} became NaN/inf at step {step}; stopped this image "
                         f"(lower the learning rate or check the input)")
