"""Hook implementations of the swapae plugin."""

from __future__ import annotations

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    from ganedit_swapae.discriminator import SwapAEDiscriminator, SwapAEPatchDiscriminator
    from ganedit_swapae.editors import (RegionTextureEditor, SwapEditor, TextureArithmeticEditor,
                                        TextureInterpolationEditor)
    from ganedit_swapae.encoder import SwapAEEncoder
    from ganedit_swapae.generator import SwapAEGenerator
    from ganedit_swapae.task import SwapTask

    from ganedit_swapae.train import SwapAETrainTask

    register(SwapAEEncoder, SwapAEGenerator, SwapAEDiscriminator, SwapAEPatchDiscriminator, SwapEditor,
             TextureInterpolationEditor, RegionTextureEditor, TextureArithmeticEditor, SwapTask, SwapAETrainTask)


@ganedit.hookimpl
def register_checkpoint_formats(register) -> None:
    from ganedit_swapae.checkpoint import convert_official, sniff_official

    register("swapae_official", sniff_official, convert_official,
             "official Swapping Autoencoder *_checkpoint.pth (E./G./D./Dpatch. state dict, opt.txt beside it)")
