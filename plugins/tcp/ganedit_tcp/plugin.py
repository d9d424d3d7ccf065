"""Hook implementations of the tcp plugin."""

from __future__ import annotations

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    pass
