"""Checkpoints of rosinality's stylegan2-pytorch.

Two layouts exist:

* train.py: ``{g, d, g_ema, g_optim, d_optim, args, ada_aug_p}`` with ``args`` an
  ``argparse.Namespace`` (allowed explicitly when unpickling; nothing else is) and no average w;
* convert_weight.py: ``{g_ema, latent_avg}`` (``latent_avg`` = TF ``dlatent_avg``, ``[style_dim]``).

A bare generator state dict (top-level ``style.1.weight`` ...) is read as ``g_ema``, and so is the
decoder of a pSp / e4e / ReStyle training checkpoint (``state_dict['decoder.*']``: the rosinality
generator the encoder was trained with), whose ``latent_avg`` ([n_styles, style_dim] rows) gives the
average w when its rows are one repeated vector, as training stores it.

Architecture: ``args`` (``size``, ``latent``, ``n_mlp``, ``channel_multiplier``, ``lr_mlp``) when
present, checked against the tensors; otherwise size, style dim, z dim and mapping depth come
from tensor shapes. Channel widths always come from the shapes, so non-standard tables load.
``lr_mlp`` cannot be seen in shapes: it defaults to 0.01 (every published model).

The generator's ``w_avg`` (truncation centre) is ``latent_avg`` for ``g_ema`` when stored,
otherwise the mean of ``mapping(z)`` over 4096 z drawn from ``torch.Generator().manual_seed(0)``
(:func:`ganedit_stylegan2.networks.estimate_w_avg`); the training ``g`` always gets its own
estimate. Optimizer states and ``ada_aug_p`` are ignored.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ganedit.io.checkpoint import CheckpointError, options_dict, safe_torch_load

from ganedit_stylegan2.loaded import StyleGAN2Checkpoint, load_weights, new_network
from ganedit_stylegan2.native import save_stylegan2_native
from ganedit_stylegan2.networks import RESOLUTIONS, Discriminator, Generator, estimate_w_avg

_EXPECTED = "a rosinality StyleGAN2 checkpoint (a dict with 'g_ema' and/or 'g' generator state dicts)"
_G_REQUIRED = ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight")
_D_REQUIRED = ("convs.0.0.weight", "final_conv.0.weight", "final_linear.0.weight")


def read_rosinality(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict (``weights_only`` unpickling; ``argparse.Namespace`` allowed)."""
    p = Path(path)
    try:
        obj = safe_torch_load(p, allow=(argparse.Namespace,))
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - the weights_only unpickler raises many types on junk bytes
        raise CheckpointError(f"{p}: not a readable torch checkpoint (truncated or another format): "
                              f"{type(exc).__name__}: {exc}") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{p}: not {_EXPECTED}; the file holds a {type(obj).__name__}")
    if "g_ema" not in obj and "g" not in obj and all(k in obj for k in _G_REQUIRED):
        return {"g_ema": obj}
    decoder = encoder_decoder(obj)
    if decoder is not None:
        return decoder
    if "g_ema" not in obj and "g" not in obj:
        found = ", ".join(map(str, list(obj)[:8])) or "nothing"
        raise CheckpointError(f"{p}: not {_EXPECTED}; found keys: {found}")
    return dict(obj)


def encoder_decoder(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{g_ema, latent_avg, layout}`` from a pSp / e4e / ReStyle checkpoint's ``decoder.*`` weights, or
    None when ``obj`` is not one. ``latent_avg`` is kept only when it is one vector (repeated per style)."""
    state = obj.get("state_dict")
    if not isinstance(state, Mapping):
        return None
    dec = {k[len("decoder."):]: v for k, v in state.items() if isinstance(k, str) and k.startswith("decoder.")}
    if not all(k in dec for k in _G_REQUIRED):
        return None
    out: dict[str, Any] = {"g_ema": dec, "layout": "encoder checkpoint (pSp/e4e/ReStyle): state_dict['decoder.*']"}
    avg = obj.get("latent_avg")
    if isinstance(avg, torch.Tensor) and avg.ndim >= 1 and avg.numel() > 0:
        rows = avg.reshape(-1, avg.shape[-1])
        if bool((rows == rows[:1]).all()):
            out["latent_avg"] = rows[0]
    return out


def is_rosinality(path: str | os.PathLike) -> bool:
    """Cheap check (memory-mapped, weights_only) that ``path`` is a rosinality StyleGAN2 checkpoint."""
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - also Namespace-bearing files: retried below
        try:
            obj = safe_torch_load(path, allow=(argparse.Namespace,))
        except CheckpointError:
            return False
    if not isinstance(obj, Mapping):
        return False
    if encoder_decoder(obj) is not None:
        return True
    for key in ("g_ema", "g"):
        sd = obj.get(key)
        if isinstance(sd, Mapping) and all(k in sd for k in _G_REQUIRED):
            return True
    return all(k in obj for k in _G_REQUIRED)


# --------------------------------------------------------------------------- shape inference


def _state(obj: Mapping[str, Any], key: str, path: Path) -> Mapping[str, torch.Tensor]:
    sd = obj[key]
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"{path}: '{key}' is a {type(sd).__name__}, expected a state dict")
    return sd


def _count(state: Mapping[str, Any], pattern: str, start: int) -> int:
    n = start
    while pattern.format(n) in state:
        n += 1
    return n - start


def infer_generator_arch(state: Mapping[str, torch.Tensor], path: Path, what: str) -> dict[str, Any]:
    """Generator constructor kwargs from tensor shapes (size, dims, mapping depth, channels)."""
    missing = [k for k in _G_REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path}: '{what}' is not a StyleGAN2 generator state dict "
                              f"(missing {', '.join(missing)})")
    n_mlp = _count(state, "style.{}.weight", 1)
    z_dim = state["style.1.weight"].shape[1]
    style_dim = state[f"style.{n_mlp}.weight"].shape[0]
    n_blocks = _count(state, "to_rgbs.{}.conv.weight", 0)
    size = 2 ** (n_blocks + 2)
    if size not in RESOLUTIONS:
        raise CheckpointError(f"{path}: '{what}' has {n_blocks} ToRGB blocks (resolution {size}); "
                              f"expected a resolution in 8..1024")
    channels = {4: int(state["input.input"].shape[1])}
    for j in range(n_blocks):
        key = f"convs.{2 * j}.conv.weight"
        if key not in state:
            raise CheckpointError(f"{path}: '{what}' lacks {key} (found {n_blocks} ToRGB blocks)")
        channels[2 ** (j + 3)] = int(state[key].shape[1])
    return {"size": size, "style_dim": int(style_dim), "z_dim": int(z_dim), "n_mlp": n_mlp,
            "channels": channels}


def infer_discriminator_arch(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Discriminator constructor kwargs from tensor shapes."""
    missing = [k for k in _D_REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path}: 'd' is not a StyleGAN2 discriminator state dict "
                              f"(missing {', '.join(missing)})")
    n_blocks = _count(state, "convs.{}.conv1.0.weight", 1)
    size = 2 ** (n_blocks + 2)
    if size not in RESOLUTIONS:
        raise CheckpointError(f"{path}: 'd' has {n_blocks} residual blocks (resolution {size}); "
                              f"expected a resolution in 8..1024")
    channels = {size: int(state["convs.0.0.weight"].shape[0])}
    for j in range(1, n_blocks + 1):
        channels[size // 2**j] = int(state[f"convs.{j}.conv2.1.weight"].shape[0])
    mbstd = int(state["final_conv.0.weight"].shape[1]) - channels[4]
    if mbstd < 1:
        raise CheckpointError(f"{path}: 'd' final_conv input width does not fit minibatch stddev")
    return {"size": size, "channels": channels, "mbstd_num_channels": mbstd}


def _check_args(arch: dict[str, Any], args: dict[str, Any], path: Path, what: str) -> None:
    """``args`` must agree with the tensors (a mismatch means a wrong or edited file)."""
    pairs = {"size": "size", "latent": "style_dim", "style_dim": "style_dim", "n_mlp": "n_mlp"}
    for akey, field in pairs.items():
        if akey in args and args[akey] is not None and field in arch and int(args[akey]) != arch[field]:
            raise CheckpointError(f"{path}: args.{akey}={args[akey]} but the '{what}' tensors have "
                                  f"{field}={arch[field]}")


# --------------------------------------------------------------------------- loading


def build_generator(state: Mapping[str, torch.Tensor], args: dict[str, Any], path: Path, what: str,
                    w_avg: torch.Tensor | None = None) -> Generator:
    arch = infer_generator_arch(state, path, what)
    _check_args(arch, args, path, what)
    kwargs = dict(arch, lr_mlp=float(args.get("lr_mlp", 0.01)),
                  channel_multiplier=int(args.get("channel_multiplier", 2)))
    if args.get("blur_kernel") is not None:
        kwargs["blur_kernel"] = list(args["blur_kernel"])
    net = new_network(Generator, kwargs, path, f"'{what}'")
    load_weights(net, state, path, f"'{what}'", optional=("w_avg",))
    net.eval()
    if w_avg is not None:
        if w_avg.numel() != net.style_dim:
            raise CheckpointError(f"{path}: latent_avg has {w_avg.numel()} values, expected {net.style_dim}")
        net.w_avg.copy_(w_avg.reshape(-1).float())
    else:
        net.w_avg.copy_(estimate_w_avg(net))
    return net


def build_discriminator(state: Mapping[str, torch.Tensor], args: dict[str, Any], path: Path) -> Discriminator:
    arch = infer_discriminator_arch(state, path)
    if "size" in args and args["size"] is not None and int(args["size"]) != arch["size"]:
        raise CheckpointError(f"{path}: args.size={args['size']} but the 'd' tensors are {arch['size']} px")
    kwargs = dict(arch, channel_multiplier=int(args.get("channel_multiplier", 2)))
    if args.get("blur_kernel") is not None:
        kwargs["blur_kernel"] = list(args["blur_kernel"])
    net = new_network(Discriminator, kwargs, path, "'d'")
    load_weights(net, state, path, "'d'")
    return net.eval()


def load_rosinality(path: str | os.PathLike) -> StyleGAN2Checkpoint:
    """Rebuild ``g_ema``, ``g`` and ``d`` (whichever the file holds)."""
    p = Path(path)
    obj = read_rosinality(p)
    args = options_dict(obj.get("args"), p, "args")
    arch_name = str(args.get("arch", "stylegan2"))
    if arch_name != "stylegan2":
        raise CheckpointError(f"{p}: args.arch={arch_name!r}; only 'stylegan2' checkpoints are supported")
    latent_avg = obj.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise CheckpointError(f"{p}: latent_avg is a {type(latent_avg).__name__}, expected a tensor")
    ckpt = StyleGAN2Checkpoint(path=p, format="rosinality")
    if "g_ema" in obj:
        ckpt.g_ema = build_generator(_state(obj, "g_ema", p), args, p, "g_ema", w_avg=latent_avg)
    if "g" in obj:
        ckpt.g = build_generator(_state(obj, "g", p), args, p, "g")
    if "d" in obj:
        ckpt.d = build_discriminator(_state(obj, "d", p), args, p)
    ckpt.metadata = {
        "source_format": "rosinality",
        "source_file": p.name,
        "layout": obj.get("layout", "stylegan2-pytorch"),
        "args": json_safe(args),
        "latent_avg": "stored" if latent_avg is not None else
                      "estimated: mean mapping(z) over 4096 z, torch.Generator seed 0",
        "ignored_keys": sorted(str(k) for k in obj if k not in ("g", "g_ema", "d", "args", "latent_avg", "layout")),
    }
    return ckpt


def json_safe(value: Any) -> Any:
    """Plain JSON types only (args can hold paths, tuples or arbitrary values)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def convert_rosinality(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Convert a rosinality checkpoint to a ganedit native StyleGAN2 checkpoint."""
    ckpt = load_rosinality(src)
    save_stylegan2_native(dst, g_ema=ckpt.g_ema, g=ckpt.g, d=ckpt.d, metadata=ckpt.metadata)

