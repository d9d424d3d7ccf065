"""Hook implementations of the encoders plugin: the ``e4e``, ``psp`` and ``restyle`` encoders."""

from __future__ import annotations

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    from ganedit_encoders.components import E4EEncoder, PSPEncoder, ReStyleEncoder

    register(E4EEncoder, PSPEncoder, ReStyleEncoder)
