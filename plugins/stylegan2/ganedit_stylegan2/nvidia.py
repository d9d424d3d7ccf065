"""NVIDIA stylegan2-ada-pytorch network pickles -> ganedit StyleGAN2 networks, without running the pickle.

An official ``network-snapshot-*.pkl`` is a plain pickle of whole modules whose classes carry their
own source code (``torch_utils.persistence``); NVIDIA's loader ``exec``s it. Here the file is read
with :mod:`ganedit_stylegan2.restricted_pickle` (nothing is imported or executed, ``module_src`` is
never looked at), the recorded module tree is checked against what :mod:`ganedit_stylegan2.networks`
can express, and NVIDIA's tensors are renamed/reshaped into that layout.

What the pickle records is honoured: per-layer ``conv_clamp``, the minibatch-stddev group size and
channel count, the mapping depth and lr multiplier, channel widths (read from tensor shapes), the
FIR filter, ``w_avg`` (truncation centre) and each layer's ``noise_const`` (``noise_mode='const'``).
Layers NVIDIA runs in fp16 (``num_fp16_res > 0``) are computed in fp32, i.e. NVIDIA's
``force_fp32=True`` semantics, with the same clamp. Refused with a ``CheckpointError``: conditional
networks (``c_dim > 0``), generator architectures other than ``'skip'``, discriminator architectures
other than ``'resnet'``, StyleGAN3 / TensorFlow-era pickles, images with other than 3 channels.

Layout differences handled (see ``reference/nvidia_stylegan2_notes.md``): modulated weights
``[O, I, k, k]`` -> ``[1, O, I, k, k]``; the 4x4 const gains a batch axis; ``noise_strength`` ``[]``
-> ``[1]`` and ``noise_const`` ``[R, R]`` -> ``[1, 1, R, R]``; ToRGB bias ``[3]`` -> ``[1, 3, 1, 1]``;
mapping ``fc{i}`` -> ``style.{i+1}``. Gains need no conversion: both implementations store raw
weights and apply the same run-time scales (NVIDIA's ToRGB scales the styles by 1/sqrt(C),
ganedit the weight; same product). Style affines (lr multiplier 1, bias initialised to 1) store
effective values and map 1:1 onto ``modulation`` (``EqualLinear(bias_init=1)``); mapping layers
keep NVIDIA's stored lr-scaled values with ``lr_mlp`` set to the recorded ``bias_gain``. The
upsampling 3x3 kernels are *not* flipped: NVIDIA's PyTorch layout already matches rosinality's.
"""

from __future__ import annotations

import collections
import math
import os
from pathlib import Path
from typing import Any, Iterable, NoReturn

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, check_finite
from ganedit.nn import make_kernel
from ganedit_stylegan2.restricted_pickle import ModuleRecord, is_pickle_file, restricted_load

__all__ = [
    "NETWORK_KEYS",
    "build_nvidia_networks",
    "convert_discriminator",
    "convert_generator",
    "is_nvidia_pickle",
    "load_nvidia_pickle",
    "read_nvidia_records",
]

#: Network entries of an NVIDIA pickle, in the order they are converted. ``G_ema`` is the one to
#: use for inference and inversion; ``G`` is the raw (non-averaged) training generator.
NETWORK_KEYS: tuple[str, ...] = ("G_ema", "G", "D")

_G_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
              "ToRGBLayer", "FullyConnectedLayer"}
_D_CLASSES = {"Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "Conv2dLayer",
              "MinibatchStdLayer", "FullyConnectedLayer"}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def is_nvidia_pickle(path: str | os.PathLike) -> bool:
    """Cheap sniff: a binary pickle whose first 64 KiB mention NVIDIA's ``torch_utils``/``dnnlib``."""
    if not is_pickle_file(path):
        return False
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    return b"torch_utils" in head or b"dnnlib" in head


def read_nvidia_records(path: str | os.PathLike) -> dict[str, Any]:
    """The pickle's top-level dict with every module as an inert :class:`ModuleRecord` (no code runs)."""
    p = Path(path)
    try:
        data = restricted_load(p)
    except CheckpointError as exc:
        if "dnnlib.tflib" in str(exc):
            raise CheckpointError(f"{p}: TensorFlow-era StyleGAN2 pickle (dnnlib.tflib); convert it to a "
                                  f"PyTorch pickle with NVIDIA's legacy.py first, then load that") from None
        raise
    if isinstance(data, ModuleRecord):  # a pickle of a bare network (e.g. just G_ema)
        data = {"G_ema": data} if data.class_name == "Generator" else {"D": data}
    if not isinstance(data, dict) or not any(isinstance(data.get(k), ModuleRecord) for k in NETWORK_KEYS):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{p}: not an NVIDIA network pickle (expected a dict with G/D/G_ema networks, "
                              f"found {found})")
    return data


def load_nvidia_pickle(path: str | os.PathLike) -> dict[str, tuple[dict[str, Any], "collections.OrderedDict[str, torch.Tensor]"]]:
    """Read an NVIDIA stylegan2-ada-pytorch pickle into ganedit StyleGAN2 network specs.

    Returns ``{name: (arch_kwargs, state_dict)}`` for each of ``'G_ema'``, ``'G'``, ``'D'`` that the
    pickle holds (official snapshots hold all three; use ``G_ema`` for inference):

    * ``'G'`` / ``'G_ema'``: ``arch_kwargs`` are keyword arguments of
      :class:`ganedit_stylegan2.networks.Generator` (``size, style_dim, z_dim, n_mlp, lr_mlp,
      channel_multiplier, blur_kernel, channels, conv_clamp``; equal to ``Generator(**kw).arch.model_dump(mode="json")``);
    * ``'D'``: keyword arguments of :class:`ganedit_stylegan2.networks.Discriminator` (``size,
      channel_multiplier, blur_kernel, channels, mbstd_group_size, mbstd_num_channels, conv_clamp``).

    ``state_dict`` is complete for ``load_state_dict(strict=True)`` on the network those kwargs build
    (float32, CPU; the generator's ``w_avg`` and ``noises.noise_*`` come from NVIDIA's ``w_avg`` and
    ``noise_const`` buffers). Other top-level entries (``augment_pipe``, ``training_set_kwargs``) are
    ignored. Raises :class:`CheckpointError` for unreadable, unsafe or unsupported files.
    """
    p = Path(path)
    data = read_nvidia_records(p)
    out: dict[str, tuple[dict[str, Any], collections.OrderedDict[str, torch.Tensor]]] = {}
    for key in NETWORK_KEYS:
        rec = data.get(key)
        if rec is None:
            continue
        if not isinstance(rec, ModuleRecord):
            raise CheckpointError(f"{p}: entry {key!r} is a {type(rec).__name__}, expected a network")
        convert = convert_discriminator if key == "D" else convert_generator
        try:
            out[key] = convert(rec, source=f"{p} [{key}]")
        except CheckpointError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # Records come from an untrusted file: odd attribute types end up here.
            raise CheckpointError(f"{p} [{key}]: malformed network record ({type(exc).__name__}: {exc})") from None
        check_finite(out[key][1], p, prefix=key)
    return out


def build_nvidia_networks(path: str | os.PathLike, keys: Iterable[str] = NETWORK_KEYS) -> dict[str, nn.Module]:
    """Instantiate the requested networks of an NVIDIA pickle in eval mode (convenience wrapper)."""
    from ganedit_stylegan2.networks import Discriminator, Generator

    specs = load_nvidia_pickle(path)
    nets: dict[str, nn.Module] = {}
    for key in keys:
        if key not in specs:
            raise CheckpointError(f"{path}: the pickle holds no {key!r} network (has {sorted(specs)})")
        kwargs, state = specs[key]
        with torch.random.fork_rng(devices=[]):  # construction draws random init; keep caller's RNG
            net = (Discriminator if key == "D" else Generator)(**kwargs)
        net.load_state_dict(state, strict=True)
        nets[key] = net.eval().requires_grad_(False)
    return nets


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class _Reader:
    """Checked access to one record tree; every failure names the file, network and module path."""

    def __init__(self, root: ModuleRecord, source: str, allowed_classes: set[str]):
        self.root = root
        self.source = source
        for name, rec in root.named_records():
            if rec.origin != "torch_utils.persistence" or rec.class_name not in allowed_classes:
                hint = " (StyleGAN3 network?)" if rec.class_name in ("SynthesisInput",) else ""
                self.fail(f"unsupported module {rec.origin}:{rec.class_name} at {name or '<root>'!r}{hint}; "
                          f"expected NVIDIA stylegan2-ada networks.py classes")

    def fail(self, msg: str) -> NoReturn:
        raise CheckpointError(f"{self.source}: {msg}")

    def rec(self, path: str, class_name: str | None = None) -> ModuleRecord:
        try:
            r = self.root.submodule(path)
        except KeyError:
            self.fail(f"missing module {path!r}")
        if class_name is not None and r.class_name != class_name:
            self.fail(f"module {path!r} is a {r.class_name}, expected {class_name}")
        return r

    def has(self, path: str) -> bool:
        try:
            self.root.submodule(path)
            return True
        except KeyError:
            return False

    def tensor(self, rec_path: str, name: str, ndim: int | None = None) -> torch.Tensor:
        r = self.rec(rec_path)
        t = r.parameters.get(name, r.buffers.get(name))
        where = f"{rec_path}.{name}" if rec_path else name
        if not isinstance(t, torch.Tensor):
            self.fail(f"missing tensor {where!r}")
        if ndim is not None and t.ndim != ndim:
            self.fail(f"tensor {where!r} has shape {list(t.shape)}, expected {ndim} dims")
        if not t.is_floating_point():
            self.fail(f"tensor {where!r} has dtype {t.dtype}, expected floating point")
        return t.detach().to(torch.float32).contiguous()

    def attr(self, rec_path: str, name: str, default: Any = ...) -> Any:
        r = self.rec(rec_path)
        if name in r.state:
            return r.state[name]
        if default is ...:
            self.fail(f"module {rec_path!r} does not record attribute {name!r}")
        return default

    def expect_shape(self, t: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
        if tuple(t.shape) != tuple(shape):
            self.fail(f"tensor {what!r} has shape {list(t.shape)}, expected {list(shape)}")

    def single(self, values: dict[str, Any], what: str) -> Any:
        """The one value all layers agree on (ganedit networks have one setting per network)."""
        distinct = {repr(v): v for v in values.values()}
        if len(distinct) != 1:
            self.fail(f"layers disagree on {what} ({values}); ganedit networks need one value per network")
        return next(iter(distinct.values()))

    def blur_kernel(self, paths: list[str]) -> list[float]:
        """The 1-D FIR taps behind the [k, k] ``resample_filter`` buffers (all must be the same)."""
        filters = {p: self.tensor(p, "resample_filter") for p in paths if "resample_filter" in self.rec(p).buffers}
        if not filters:
            return [1.0, 3.0, 3.0, 1.0]
        first = next(iter(filters.values()))
        for p, f in filters.items():
            if f.shape != first.shape or not torch.allclose(f, first, rtol=0, atol=1e-7):
                self.fail(f"resample_filter of {p!r} differs from the others")
        if first.ndim != 2 or first.shape[0] != first.shape[1]:
            self.fail(f"resample_filter has shape {list(first.shape)}, expected a square 2-D filter")
        taps = first.double().sum(1)  # rows of f f^T / sum(f)^2 sum to f / sum(f)
        nonzero = taps[taps.abs() > 1e-12]
        if nonzero.numel() == 0:
            self.fail("resample_filter is all zeros")
        taps = taps / nonzero.abs().min()  # report NVIDIA's [1, 3, 3, 1] as such
        taps = [round(v, 6) for v in taps.tolist()]
        if not torch.allclose(make_kernel(taps), first, rtol=0, atol=1e-6):
            self.fail("resample_filter is not a separable FIR filter that ganedit networks can rebuild")
        return taps


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _channel_multiplier_for(channels: dict[int, int]) -> int:
    """The rosinality multiplier whose width table matches (cosmetic; ``channels`` is authoritative)."""
    from ganedit_stylegan2.networks import channel_table

    for cm in (2, 1):
        table = channel_table(cm)
        if all(table.get(r) == c for r, c in channels.items()):
            return cm
    return 2


def _complete_state(cls_name: str, kwargs: dict[str, Any], mapped: dict[str, torch.Tensor],
                    reader: _Reader) -> "collections.OrderedDict[str, torch.Tensor]":
    """Check ``mapped`` against the network ``kwargs`` build and add its constant FIR buffers."""
    from ganedit_stylegan2 import networks

    try:
        with torch.random.fork_rng(devices=[]):
            net = getattr(networks, cls_name)(**kwargs)
    except (ValueError, TypeError) as exc:
        reader.fail(f"cannot build a ganedit {cls_name} from the recorded architecture ({exc})")
    reference = net.state_dict()
    unexpected = sorted(set(mapped) - set(reference))
    if unexpected:
        reader.fail(f"converted tensors {unexpected[:5]} have no place in the ganedit {cls_name}")
    state: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
    for key, ref in reference.items():
        if key in mapped:
            if tuple(mapped[key].shape) != tuple(ref.shape):
                reader.fail(f"tensor for {key!r} has shape {list(mapped[key].shape)}, the ganedit {cls_name} "
                            f"expects {list(ref.shape)}")
            state[key] = mapped[key]
        elif key.endswith("kernel"):
            state[key] = ref.clone()  # fixed FIR filters, rebuilt from blur_kernel
        else:
            reader.fail(f"the pickle provides no tensor for {key!r} of the ganedit {cls_name}")
    return state


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------


def convert_generator(rec: ModuleRecord, source: str = "<generator>") -> tuple[dict[str, Any], "collections.OrderedDict[str, torch.Tensor]"]:
    """``(Generator kwargs, state_dict)`` from a NVIDIA ``Generator`` record (see :func:`load_nvidia_pickle`)."""
    r = _Reader(rec, source, _G_CLASSES)
    r.rec("", "Generator")
    c_dim = int(r.attr("", "c_dim", rec.init_kwargs.get("c_dim", 0)) or 0)
    if c_dim > 0:
        r.fail(f"conditional generator (c_dim={c_dim}) is not supported")
    img_channels = int(r.attr("", "img_channels", 3))
    if img_channels != 3:
        r.fail(f"img_channels={img_channels} is not supported (ganedit StyleGAN2 generates RGB)")

    # ---- mapping
    r.rec("mapping", "MappingNetwork")
    if r.has("mapping.embed") or int(r.attr("mapping", "c_dim", 0) or 0):
        r.fail("mapping network has a label embedding (conditional model), not supported")
    n_mlp = int(r.attr("mapping", "num_layers"))
    fcs = [f"mapping.fc{i}" for i in range(n_mlp)]
    extra = sorted(set(r.rec("mapping").children) - {p.split(".")[1] for p in fcs})
    if extra:
        r.fail(f"mapping network has unexpected layers {extra}")
    w_dim = int(r.attr("mapping", "w_dim"))
    z_dim = int(r.attr("mapping", "z_dim"))
    lr_mlp = r.single({p: float(r.attr(p, "bias_gain")) for p in fcs}, "the mapping lr multiplier")
    for p in fcs:
        if r.attr(p, "activation", "lrelu") != "lrelu":
            r.fail(f"{p} uses activation {r.attr(p, 'activation')!r}; only 'lrelu' is supported")
    mapped: dict[str, torch.Tensor] = {}
    for i, p in enumerate(fcs):
        weight, bias = r.tensor(p, "weight", 2), r.tensor(p, "bias", 1)
        r.expect_shape(weight, (w_dim, z_dim if i == 0 else w_dim), f"{p}.weight")
        r.expect_shape(bias, (w_dim,), f"{p}.bias")
        mapped[f"style.{i + 1}.weight"] = weight
        mapped[f"style.{i + 1}.bias"] = bias
    w_avg = r.tensor("mapping", "w_avg", 1)
    r.expect_shape(w_avg, (w_dim,), "mapping.w_avg")
    mapped["w_avg"] = w_avg

    # ---- synthesis
    r.rec("synthesis", "SynthesisNetwork")
    size = int(r.attr("synthesis", "img_resolution"))
    if size < 8 or size & (size - 1):
        r.fail(f"img_resolution={size} is not a power of two >= 8")
    resolutions = [2**i for i in range(2, int(math.log2(size)) + 1)]
    blocks = {res: f"synthesis.b{res}" for res in resolutions}
    extra = sorted(set(r.rec("synthesis").children) - {f"b{res}" for res in resolutions})
    if extra:
        r.fail(f"synthesis network has unexpected blocks {extra}")
    for res, b in blocks.items():
        r.rec(b, "SynthesisBlock")
        arch = r.attr(b, "architecture", "skip")
        if arch != "skip":
            r.fail(f"synthesis architecture {arch!r} (block {b}) is not supported; only 'skip' "
                   f"(every official StyleGAN2-ADA generator) is")
        if not r.has(f"{b}.torgb"):
            r.fail(f"block {b} has no torgb layer (not a 'skip' generator)")

    # Styled convs in ganedit order: b4.conv1, then conv0/conv1 of b8, b16, ...
    layers: list[tuple[str, str, int, int]] = [(f"{blocks[4]}.conv1", "conv1", 4, 1)]
    torgbs: list[tuple[str, str]] = [(f"{blocks[4]}.torgb", "to_rgb1")]
    for k, res in enumerate(resolutions[1:]):
        layers.append((f"{blocks[res]}.conv0", f"convs.{2 * k}", res, 2))
        layers.append((f"{blocks[res]}.conv1", f"convs.{2 * k + 1}", res, 1))
        torgbs.append((f"{blocks[res]}.torgb", f"to_rgbs.{k}"))

    const = r.tensor(blocks[4], "const", 3)
    channels: dict[int, int] = {4: int(const.shape[0])}
    mapped["input.input"] = const.unsqueeze(0)
    clamps: dict[str, Any] = {}
    for j, (src, dst, res, up) in enumerate(layers):
        r.rec(src, "SynthesisLayer")
        weight = r.tensor(src, "weight", 4)
        if weight.shape[-1] != 3 or weight.shape[-2] != 3:
            r.fail(f"{src}.weight has kernel size {list(weight.shape[-2:])}, ganedit networks use 3x3")
        if int(r.attr(src, "up", 1)) != up:
            r.fail(f"{src} has up={r.attr(src, 'up')}, expected {up}")
        if r.attr(src, "activation", "lrelu") != "lrelu":
            r.fail(f"{src} uses activation {r.attr(src, 'activation')!r}; only 'lrelu' is supported")
        channels[res] = int(weight.shape[0])
        clamps[src] = _number(r.attr(src, "conv_clamp", None))
        mapped[f"{dst}.conv.weight"] = weight.unsqueeze(0)
        mapped[f"{dst}.conv.modulation.weight"] = r.tensor(f"{src}.affine", "weight", 2)
        mapped[f"{dst}.conv.modulation.bias"] = r.tensor(f"{src}.affine", "bias", 1)
        mapped[f"{dst}.activate.bias"] = r.tensor(src, "bias", 1)
        if r.attr(src, "use_noise", True):
            mapped[f"{dst}.noise.weight"] = r.tensor(src, "noise_strength").reshape(1)
            mapped[f"noises.noise_{j}"] = r.tensor(src, "noise_const", 2)[None, None]
        else:
            # A noise-free NVIDIA layer equals a zero noise strength in every noise mode.
            mapped[f"{dst}.noise.weight"] = torch.zeros(1)
            mapped[f"noises.noise_{j}"] = torch.zeros(1, 1, res, res)
    for src, dst in torgbs:
        r.rec(src, "ToRGBLayer")
        weight = r.tensor(src, "weight", 4)
        if tuple(weight.shape[-2:]) != (1, 1) or weight.shape[0] != 3:
            r.fail(f"{src}.weight has shape {list(weight.shape)}, expected [3, C, 1, 1]")
        clamps[src] = _number(r.attr(src, "conv_clamp", None))
        mapped[f"{dst}.conv.weight"] = weight.unsqueeze(0)
        mapped[f"{dst}.conv.modulation.weight"] = r.tensor(f"{src}.affine", "weight", 2)
        mapped[f"{dst}.conv.modulation.bias"] = r.tensor(f"{src}.affine", "bias", 1)
        mapped[f"{dst}.bias"] = r.tensor(src, "bias", 1).reshape(1, 3, 1, 1)
    for src, dst in [(s, d) for s, d, *_ in layers] + torgbs:
        if mapped[f"{dst}.conv.modulation.weight"].shape[1] != w_dim:
            r.fail(f"{src}.affine takes {mapped[f'{dst}.conv.modulation.weight'].shape[1]} inputs, w_dim is {w_dim}")
        if float(r.attr(f"{src}.affine", "bias_gain", 1)) != 1.0:
            # ganedit's style affines are EqualLinear(lr_mul=1), like every NVIDIA StyleGAN2.
            r.fail(f"{src}.affine has lr multiplier {r.attr(f'{src}.affine', 'bias_gain')}, expected 1")

    conv_clamp = r.single(clamps, "conv_clamp")
    num_ws = int(r.attr("", "num_ws", 2 * len(resolutions)))
    if num_ws != 2 * int(math.log2(size)) - 2:
        r.fail(f"num_ws={num_ws} does not match a skip generator of resolution {size}")
    blur = r.blur_kernel([b for b in blocks.values()] + [s for s, *_ in layers])
    kwargs = {
        "size": size,
        "style_dim": w_dim,
        "z_dim": z_dim,
        "n_mlp": n_mlp,
        "lr_mlp": float(lr_mlp),
        "channel_multiplier": _channel_multiplier_for(channels),
        "blur_kernel": blur,
        "channels": {str(res): channels[res] for res in resolutions},
        "conv_clamp": conv_clamp,
    }
    return kwargs, _complete_state("Generator", kwargs, mapped, r)


# --------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------


def convert_discriminator(rec: ModuleRecord, source: str = "<discriminator>") -> tuple[dict[str, Any], "collections.OrderedDict[str, torch.Tensor]"]:
    """``(Discriminator kwargs, state_dict)`` from a NVIDIA ``Discriminator`` record."""
    r = _Reader(rec, source, _D_CLASSES | {"MappingNetwork"})
    r.rec("", "Discriminator")
    c_dim = int(r.attr("", "c_dim", rec.init_kwargs.get("c_dim", 0)) or 0)
    if c_dim > 0 or r.has("mapping"):
        r.fail(f"conditional discriminator (c_dim={c_dim}) is not supported")
    if int(r.attr("", "img_channels", 3)) != 3:
        r.fail(f"img_channels={r.attr('', 'img_channels')} is not supported (RGB only)")
    size = int(r.attr("", "img_resolution"))
    if size < 8 or size & (size - 1):
        r.fail(f"img_resolution={size} is not a power of two >= 8")
    block_res = [2**i for i in range(int(math.log2(size)), 2, -1)]
    extra = sorted(set(rec.children) - {f"b{res}" for res in block_res} - {"b4"})
    if extra:
        r.fail(f"discriminator has unexpected modules {extra}")

    mapped: dict[str, torch.Tensor] = {}
    channels: dict[int, int] = {}
    clamps: dict[str, Any] = {}
    filters: list[str] = []

    def conv(src: str, act: str, down: int, ndim_k: int, bias: bool) -> torch.Tensor:
        r.rec(src, "Conv2dLayer")
        if r.attr(src, "activation", act) != act:
            r.fail(f"{src} uses activation {r.attr(src, 'activation')!r}, expected {act!r}")
        if int(r.attr(src, "down", 1)) != down or int(r.attr(src, "up", 1)) != 1:
            r.fail(f"{src} resamples (up={r.attr(src, 'up', 1)}, down={r.attr(src, 'down', 1)}), expected down={down}")
        weight = r.tensor(src, "weight", 4)
        if tuple(weight.shape[-2:]) != (ndim_k, ndim_k):
            r.fail(f"{src}.weight has kernel {list(weight.shape[-2:])}, expected {ndim_k}x{ndim_k}")
        if bias != ("bias" in r.rec(src).parameters):
            r.fail(f"{src} {'lacks' if bias else 'has'} a bias, unlike NVIDIA's resnet discriminator")
        if "resample_filter" in r.rec(src).buffers:
            filters.append(src)
        return weight

    for j, res in enumerate(block_res, start=1):
        b = f"b{res}"
        r.rec(b, "DiscriminatorBlock")
        if r.attr(b, "architecture", "resnet") != "resnet":
            r.fail(f"discriminator architecture {r.attr(b, 'architecture')!r} (block {b}) is not supported; "
                   f"only 'resnet' (every official StyleGAN2-ADA discriminator) is")
        if "resample_filter" in r.rec(b).buffers:
            filters.append(b)
        if j == 1:
            if not r.has(f"{b}.fromrgb"):
                r.fail(f"first block {b} has no fromrgb layer")
            w = conv(f"{b}.fromrgb", "lrelu", 1, 1, True)
            mapped["convs.0.0.weight"] = w
            mapped["convs.0.1.bias"] = r.tensor(f"{b}.fromrgb", "bias", 1)
            clamps[f"{b}.fromrgb"] = _number(r.attr(f"{b}.fromrgb", "conv_clamp", None))
        elif r.has(f"{b}.fromrgb"):
            r.fail(f"block {b} has a fromrgb layer (not a 'resnet' discriminator)")
        w0 = conv(f"{b}.conv0", "lrelu", 1, 3, True)
        w1 = conv(f"{b}.conv1", "lrelu", 2, 3, True)
        ws = conv(f"{b}.skip", "linear", 2, 1, False)
        channels[res] = int(w0.shape[0])
        channels[res // 2] = int(w1.shape[0])
        r.expect_shape(ws, (w1.shape[0], w0.shape[0], 1, 1), f"{b}.skip.weight")
        mapped[f"convs.{j}.conv1.0.weight"] = w0
        mapped[f"convs.{j}.conv1.1.bias"] = r.tensor(f"{b}.conv0", "bias", 1)
        mapped[f"convs.{j}.conv2.1.weight"] = w1
        mapped[f"convs.{j}.conv2.2.bias"] = r.tensor(f"{b}.conv1", "bias", 1)
        mapped[f"convs.{j}.skip.1.weight"] = ws
        clamps[f"{b}.conv0"] = _number(r.attr(f"{b}.conv0", "conv_clamp", None))
        clamps[f"{b}.conv1"] = _number(r.attr(f"{b}.conv1", "conv_clamp", None))
        if r.attr(f"{b}.skip", "conv_clamp", None) is not None:
            r.fail(f"{b}.skip clamps its output; NVIDIA's skip layers never do and ganedit cannot")

    # ---- epilogue
    e = "b4"
    r.rec(e, "DiscriminatorEpilogue")
    if r.attr(e, "architecture", "resnet") != "resnet":
        r.fail(f"discriminator epilogue architecture {r.attr(e, 'architecture')!r} is not supported")
    if int(r.attr(e, "cmap_dim", 0) or 0) or r.has(f"{e}.fromrgb"):
        r.fail("discriminator epilogue is conditional or has its own fromrgb; not supported")
    if not r.has(f"{e}.mbstd"):
        r.fail("discriminator has no minibatch-stddev layer (mbstd_num_channels=0); not supported")
    r.rec(f"{e}.mbstd", "MinibatchStdLayer")
    group = r.attr(f"{e}.mbstd", "group_size")
    mbstd_channels = int(r.attr(f"{e}.mbstd", "num_channels"))
    wc = conv(f"{e}.conv", "lrelu", 1, 3, True)
    r.expect_shape(wc, (channels[4], channels[4] + mbstd_channels, 3, 3), f"{e}.conv.weight")
    clamps[f"{e}.conv"] = _number(r.attr(f"{e}.conv", "conv_clamp", None))
    mapped["final_conv.0.weight"] = wc
    mapped["final_conv.1.bias"] = r.tensor(f"{e}.conv", "bias", 1)
    for idx, (name, act) in enumerate((("fc", "lrelu"), ("out", "linear"))):
        p = f"{e}.{name}"
        r.rec(p, "FullyConnectedLayer")
        if r.attr(p, "activation", act) != act or float(r.attr(p, "bias_gain", 1)) != 1.0:
            r.fail(f"{p}: activation {r.attr(p, 'activation')!r} / lr multiplier {r.attr(p, 'bias_gain')} "
                   f"differ from NVIDIA's unconditional epilogue ({act!r}, 1)")
        mapped[f"final_linear.{idx}.weight"] = r.tensor(p, "weight", 2)
        mapped[f"final_linear.{idx}.bias"] = r.tensor(p, "bias", 1)
    r.expect_shape(mapped["final_linear.0.weight"], (channels[4], channels[4] * 16), f"{e}.fc.weight")
    r.expect_shape(mapped["final_linear.1.weight"], (1, channels[4]), f"{e}.out.weight")

    kwargs = {
        "size": size,
        "channel_multiplier": _channel_multiplier_for(channels),
        "blur_kernel": r.blur_kernel(filters),
        "channels": {str(res): channels[res] for res in sorted(channels)},
        "mbstd_group_size": None if group is None else int(group),
        "mbstd_num_channels": mbstd_channels,
        "conv_clamp": r.single(clamps, "conv_clamp"),
    }
    return kwargs, _complete_state("Discriminator", kwargs, mapped, r)
