"""Editors applied after inversion: style mixing, latent directions, SeFa, GANSpace components."""

from ganedit_inversion.editors.direction import DirectionEditor, load_direction
from ganedit_inversion.editors.ganspace import GanspaceEditor, load_ganspace
from ganedit_inversion.editors.sefa import SeFaEditor, sefa_directions, style_affines
from ganedit_inversion.editors.style_mixing import StyleMixingEditor, mix_styles

__all__ = [
    "DirectionEditor",
    "GanspaceEditor",
    "SeFaEditor",
    "StyleMixingEditor",
    "load_direction",
    "load_ganspace",
    "mix_styles",
    "sefa_directions",
    "style_affines",
]
