"""Hook implementations of the stylealae plugin (StyleALAE: Pidhorskyi et al., CVPR 2020)."""

from __future__ import annotations

import ganedit
from ganedit_stylealae.checkpoint import convert_official, sniff_official
from ganedit_stylealae.components import StyleALAEDiscriminator, StyleALAEEncoder, StyleALAEGenerator
from ganedit_stylealae.reconstruct import ALAEReconstructTask
from ganedit_stylealae.train import ALAETrainTask, convert_train_checkpoint, sniff_train_checkpoint


@ganedit.hookimpl
def register_components(register) -> None:
    register(StyleALAEGenerator, StyleALAEEncoder, StyleALAEDiscriminator, ALAEReconstructTask, ALAETrainTask)


@ganedit.hookimpl
def register_checkpoint_formats(register) -> None:
    register("alae_official", sniff_official, convert_official,
             "official ALAE/StyleALAE training checkpoint (podgorskiy/ALAE .pth: models/auxiliary, "
             "EMA '_s' copies) -> native safetensors with E, G, F, D and dlatent_avg")
    register("alae_train", sniff_train_checkpoint, convert_train_checkpoint,
             "ganedit alae_train snapshot (OUTPUT/checkpoints/step-N.pt or last.pt) -> the native file the run "
             "exports at its end (EMA and live networks, dlatent_avg), for any step")
