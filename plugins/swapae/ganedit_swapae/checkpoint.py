"""SwapAE checkpoints with the plugin's networks: the public loading / saving API.

Official ``*_checkpoint.pth`` files (``taesungp/swapping-autoencoder-pytorch``: the flat
``state_dict`` of the whole model with ``E.``, ``G.``, ``D.stylegan2_D.`` and ``Dpatch.`` prefixes;
the architecture from the ``opt.txt`` beside them, else the tensor shapes; options given in the
config override both) and ganedit native files (:func:`save_swapae`: safetensors with one JSON
config, ``kind='autoencoder'``, ``type='swapae'`` and each stored part's architecture). The formats
themselves live in :mod:`ganedit_swapae.formats`; this module supplies the plugin's networks.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from ganedit.io.checkpoint import CheckpointError

from ganedit_swapae import formats
from ganedit_swapae.arch import DEFAULTS
from ganedit_swapae.discriminator import SwapAEDiscriminator, SwapAEPatchDiscriminator
from ganedit_swapae.encoder import SwapAEEncoder
from ganedit_swapae.formats import (NATIVE_TYPE, PARTS, SwapAEModel, is_official_checkpoint, read_opt_txt, save_swapae,
                                    sniff_official)
from ganedit_swapae.generator import SwapAEGenerator

#: The networks of each part.
NETWORKS: dict[str, Any] = {"encoder": SwapAEEncoder, "generator": SwapAEGenerator,
                            "discriminator": SwapAEDiscriminator, "patch_discriminator": SwapAEPatchDiscriminator}


def new_model(options: Mapping[str, Any] | None = None, parts: tuple[str, ...] = PARTS) -> SwapAEModel:
    """Randomly initialised networks (official inits) from options (official defaults otherwise)."""
    return formats.new_model(options, parts, NETWORKS)


def load_official(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
                  parts: tuple[str, ...] = PARTS, require: bool = True) -> SwapAEModel:
    """Load ``parts`` of an official checkpoint; ``overrides`` (ganedit option names) win over the
    ``opt.txt`` beside the file. Parts absent from the file raise when ``require``, else are None."""
    return formats.load_official(path, overrides, parts, require, NETWORKS)


def load_swapae(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
                parts: tuple[str, ...] = PARTS, require: bool = True,
                types: tuple[str, ...] = (NATIVE_TYPE,)) -> SwapAEModel:
    """Load an official or native SwapAE checkpoint (chosen by content); ``types`` lists the
    native ``type`` values accepted (plugins building on SwapAE may store their own)."""
    return formats.load_swapae(path, overrides, parts, require, types, NETWORKS)


def convert_official(src: Any, dst: Any) -> None:
    """``ganedit convert``: an official checkpoint (+ its ``opt.txt``) to a native file."""
    model = load_official(src, parts=PARTS, require=False)
    if model.encoder is None or model.generator is None:
        raise CheckpointError(f"{src}: an official SwapAE checkpoint needs E. and G. weights")
    save_swapae(dst, model)


__all__ = ["DEFAULTS", "NETWORKS", "PARTS", "SwapAEModel", "convert_official", "is_official_checkpoint",
           "load_official", "load_swapae", "new_model", "read_opt_txt", "save_swapae", "sniff_official"]
