"""Helpers for tests of SwapAE and of plugins built on it (TCP): a tiny architecture for CPU runs."""

from __future__ import annotations

from typing import Any

#: Official option names for a tiny SwapAE: 8x8 structure codes at 32 px, 32-d texture codes, two
#: co-occurrence crops per image. Add ``resolution`` when the data does not give it.
TINY_OPTIONS: dict[str, Any] = {
    "num_downsampling_sp": 2,
    "num_downsampling_gl": 2,
    "encoder_capacity": 0.125,
    "spatial_code_ch": 4,
    "global_code_ch": 32,
    "generator_capacity": 0.0625,
    "discriminator_capacity": 1 / 64,
    "discriminator_max_channels": 32,
    "patch_pair_channels": [32, 16],
    "patch_capacity": 0.25,
    "patch_max_nc": 16,
    "patch_size": 16,
    "patch_num_crops": 2,
}
