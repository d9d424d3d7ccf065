"""Hook implementations of the swapae plugin."""

from __future__ import annotations

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    pass
