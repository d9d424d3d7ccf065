"""ganedit first-party plugin: GAN inversion (optimisation, encoder, PTI, Near-Perfect) and editing
after inversion (style mixing, directions, SeFa), plus the ``invert`` task.

Python API for saved results::

    from ganedit_inversion import load_inversion
    G, latent = load_inversion("runs/near_inversion/inversions/astronaut")
    images = G.generate(latent)
"""

from ganedit.latent import load_latent, save_latent

from ganedit_inversion.errors import InversionError, TuningDiverged
from ganedit_inversion.results import apply_generator_delta, load_generator, load_inversion, save_generator_delta

__all__ = [
    "InversionError",
    "TuningDiverged",
    "apply_generator_delta",
    "load_generator",
    "load_inversion",
    "load_latent",
    "save_generator_delta",
    "save_latent",
]
