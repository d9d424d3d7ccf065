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
    """Register component classes: ``register(ClassA, ClassB, ...)``.

    Each class implements one interface of :mod:`ganedit.interfaces` (its kind: ``generator, encoder,
    inverter, editor, discriminator, dataset, loss, task``), declares its name at the class
    (``class Sharpen(ganedit.Editor, name="sharpen")``) and nests a ``Params`` model.
    """


@hookspec
def register_checkpoint_formats(register) -> None:
    """Register checkpoint formats for sniffing and ``ganedit convert``:
    ``register(name, sniff, convert, description='')`` where ``sniff(path) -> bool`` and
    ``convert(src, dst) -> None`` writes a ganedit native checkpoint.
    """
