"""Hook implementations of the inversion plugin: inverters, editors, the ``invert`` task and the
``tuned`` generator (a base generator plus a saved weight delta)."""

from __future__ import annotations

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    from ganedit_inversion.editors import DirectionEditor, GanspaceEditor, SeFaEditor, StyleMixingEditor
    from ganedit_inversion.encoder import EncoderInverter
    from ganedit_inversion.near_perfect import NearPerfectInverter
    from ganedit_inversion.optimization import OptimizationInverter
    from ganedit_inversion.pti import PTIInverter
    from ganedit_inversion.results import TunedGenerator
    from ganedit_inversion.task import InvertTask

    register(OptimizationInverter, EncoderInverter, PTIInverter, NearPerfectInverter, StyleMixingEditor,
             DirectionEditor, SeFaEditor, GanspaceEditor, TunedGenerator, InvertTask)
