"""Plugin hooks. A plugin is a module (or object) with ``@ganedit.hookimpl`` functions, listed
under the ``ganedit`` entry-point group of its distribution::

    [project.entry-points.ganedit]
    myplugin = "ganedit_myplugin.plugin"
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("ganedit")
hookimpl = pluggy.HookimplMarker("ganedit")


@hookspec
def register_components(register) -> None:
    """Register components: ``register(kind, name, cls)``; ``cls`` has a nested ``Params`` model.

    ``kind`` is one of ``generator, encoder, inverter, editor, discriminator, dataset, loss, task``.
    """


@hookspec
def register_checkpoint_formats(register) -> None:
    """Register checkpoint formats for sniffing and ``ganedit convert``:
    ``register(name, sniff, convert, description='')`` where ``sniff(path) -> bool`` and
    ``convert(src, dst) -> None`` writes a ganedit native checkpoint.
    """
