"""Hook implementations of the stylegan2 plugin: components and checkpoint formats."""

from __future__ import annotations

import os

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    from ganedit_stylegan2.components import StyleGAN2Discriminator, StyleGAN2Generator
    from ganedit_stylegan2.train import StyleGAN2Train

    register(StyleGAN2Generator, StyleGAN2Discriminator, StyleGAN2Train)


def sniff_rosinality(path: str | os.PathLike) -> bool:
    """A torch file holding rosinality StyleGAN2 generator state dicts."""
    from ganedit_stylegan2.checkpoints import sniff_format
    from ganedit_stylegan2.rosinality import is_rosinality

    return sniff_format(path) == "rosinality" and is_rosinality(path)


def convert_rosinality(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    from ganedit_stylegan2.rosinality import convert_rosinality as _convert

    _convert(src, dst)


def sniff_nvidia(path: str | os.PathLike) -> bool:
    """An NVIDIA network pickle (any non-torch pickle when the NVIDIA loader is not installed)."""
    from ganedit_stylegan2.checkpoints import sniff_format

    if sniff_format(path) != "nvidia":
        return False
    try:
        from ganedit_stylegan2.nvidia import is_nvidia_pickle
    except ImportError:
        return True
    return is_nvidia_pickle(path)


def convert_nvidia(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    from ganedit_stylegan2.checkpoints import load_checkpoint
    from ganedit_stylegan2.native import save_stylegan2_native

    ckpt = load_checkpoint(src, "nvidia")
    meta = {k: v for k, v in ckpt.metadata.items() if isinstance(v, (str, int, float, bool, type(None)))}
    save_stylegan2_native(dst, g_ema=ckpt.g_ema, g=ckpt.g, d=ckpt.d,
                          metadata={"source_format": "nvidia", "source_file": os.path.basename(src), **meta})


@ganedit.hookimpl
def register_checkpoint_formats(register) -> None:
    register("stylegan2-rosinality", sniff_rosinality, convert_rosinality,
             "rosinality stylegan2-pytorch .pt (train.py or convert_weight.py layout) -> native StyleGAN2")
    register("stylegan2-nvidia", sniff_nvidia, convert_nvidia,
             "NVIDIA stylegan2-ada-pytorch network .pkl (read without executing code) -> native StyleGAN2")
    register("stylegan2_train", sniff_train, convert_train,
             "ganedit stylegan2_train snapshot (OUTPUT/checkpoints/step-N.pt or last.pt) -> the native file the "
             "run writes at its end (g_ema, g, d), for any step")


def sniff_train(path: str | os.PathLike) -> bool:
    from ganedit_stylegan2.train import sniff_train_checkpoint

    return sniff_train_checkpoint(path)


def convert_train(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    from ganedit_stylegan2.train import convert_train_checkpoint

    convert_train_checkpoint(src, dst)
