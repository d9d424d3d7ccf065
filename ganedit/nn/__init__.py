"""Shared neural-network building blocks (StyleGAN2 family), used by every first-party plugin.

These are the equalized-learning-rate layers, FIR resampling and modulated convolution of
StyleGAN2, written once so that StyleGAN2, SwapAE, TCP, StyleALAE and inversion plugins
share one implementation.
"""

from ganedit.nn.resample import Blur, Downsample, Upsample, make_kernel, upfirdn2d
from ganedit.nn.layers import (
    ConstantInput,
    ConvLayer,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    ResBlock,
    fused_leaky_relu,
    minibatch_stddev,
)

__all__ = [
    "Blur",
    "ConstantInput",
    "ConvLayer",
    "Downsample",
    "EqualConv2d",
    "EqualLinear",
    "FusedLeakyReLU",
    "ModulatedConv2d",
    "NoiseInjection",
    "PixelNorm",
    "ResBlock",
    "Upsample",
    "fused_leaky_relu",
    "make_kernel",
    "minibatch_stddev",
    "upfirdn2d",
]
