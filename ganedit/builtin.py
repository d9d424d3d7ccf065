"""ganedit's own components (datasets, losses, tasks), registered through the same hook as any plugin."""

from __future__ import annotations

from ganedit.hookspecs import hookimpl


@hookimpl
def register_components(register) -> None:
    pass
