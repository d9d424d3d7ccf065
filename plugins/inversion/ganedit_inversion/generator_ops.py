"""Generator access shared by inverters and editors, written against ``ganedit.Generator`` only.

Anything StyleGAN-like works: ``mapping(z, truncation_psi, truncation_cutoff) -> ws``,
``synthesis(ws, noise_mode)``, ``num_ws``, ``w_dim``, ``z_dim``, ``img_resolution``. Noise-map
optimisation additionally uses ``noise_buffers()`` and ``synthesis(..., noise=[...])`` when the
generator has them (StyleGAN2 does; generators without per-layer noise simply skip it).
"""

from __future__ import annotations

import copy
import weakref
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganedit.interfaces import Generator
from ganedit.latent import Latent, LatentError

from ganedit_inversion.errors import InversionError

TuneSelection = Literal["auto", "synthesis", "fine", "all"]

#: ``tune: fine``: the synthesis layers of this many finest output resolutions
FINE_RESOLUTIONS = 2


def device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU when it has none)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def describe(generator: Generator) -> str:
    return f"{type(generator).__name__}(num_ws={generator.num_ws}, w_dim={generator.w_dim}, " \
           f"resolution={generator.img_resolution})"


def require_style_api(generator: Generator, who: str) -> None:
    """Clear error when ``generator`` lacks the mapping/synthesis API inverters rely on."""
    missing = [a for a in ("mapping", "synthesis", "num_ws", "w_dim", "z_dim", "img_resolution")
               if not hasattr(generator, a)]
    if missing:
        raise InversionError(f"{who} needs a StyleGAN-like generator (mapping/synthesis API); "
                             f"{type(generator).__name__} lacks {missing}")


def ws_of(generator: Generator, latent: Latent, who: str) -> torch.Tensor:
    """``ws [B, num_ws, w_dim]`` of a ``z``/``w``/``w+`` latent, with a clear error on a mismatch."""
    if latent.space == "z":
        z = latent.z
        if z.shape[1] != generator.z_dim:
            raise LatentError(f"{who}: z latent has width {z.shape[1]}, generator expects z_dim={generator.z_dim}")
        return generator.mapping(z.to(device_of(generator)))
    if latent.space not in ("w", "w+"):
        raise LatentError(f"{who}: needs a latent in 'w' or 'w+' (or 'z'), got space {latent.space!r}")
    ws = latent.ws
    want = (generator.num_ws, generator.w_dim)
    if tuple(ws.shape[1:]) != want:
        raise LatentError(f"{who}: latent ws has shape {tuple(ws.shape)}, generator {describe(generator)} "
                          f"expects [B, {want[0]}, {want[1]}]")
    return ws


def has_noise_maps(generator: Generator) -> bool:
    """True when the generator exposes per-layer noise buffers that ``synthesis`` accepts."""
    return callable(getattr(generator, "noise_buffers", None)) and len(generator.noise_buffers()) > 0


def synthesize(generator: Generator, ws: torch.Tensor, noise_mode: str = "const",
               noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """``generator.synthesis`` with optional explicit noise maps (only passed when given)."""
    if noise is not None:
        return generator.synthesis(ws, noise_mode=noise_mode, noise=list(noise))
    return generator.synthesis(ws, noise_mode=noise_mode)


def fit_targets(images: torch.Tensor, generator: Generator, who: str) -> torch.Tensor:
    """Check a target batch and bring it to the generator's resolution.

    Policy for tensors whose size differs from the generator output: non-square inputs are
    centre-cropped to a square, then resampled with antialiased bilinear interpolation (files are
    resized earlier by :func:`ganedit.io.images.load_image` with the task's ``resize`` policy).
    """
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != 3:
        raise InversionError(f"{who}: target images must be [B, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise InversionError(f"{who}: target images contain NaN/inf values")
    res = int(generator.img_resolution)
    h, w = images.shape[-2:]
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images = images[..., top:top + s, left:left + s]
    if images.shape[-1] != res:
        images = F.interpolate(images.float(), size=(res, res), mode="bilinear", align_corners=False,
                               antialias=True).clamp(-1, 1)
    return images.to(device_of(generator)).float()


# ----------------------------------------------------------------------------- W statistics

_W_STATS: "weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, int], tuple[torch.Tensor, float]]]" = \
    weakref.WeakKeyDictionary()


@torch.no_grad()
def w_statistics(generator: Generator, samples: int, seed: int = 123) -> tuple[torch.Tensor, float]:
    """Mean ``w [w_dim]`` and spread ``sqrt(E ||w - w_avg||^2)`` over ``samples`` mapped z.

    As NVIDIA's projector: ``z ~ N(0, I)`` from a fixed seed (123 by default), first layer of the
    mapped ``ws``. Cached per generator instance.
    """
    cache = _W_STATS.setdefault(generator, {})
    key = (int(samples), int(seed))
    if key not in cache:
        gen = torch.Generator().manual_seed(seed)
        dev = device_of(generator)
        ws = []
        for start in range(0, samples, 1024):
            n = min(1024, samples - start)
            z = torch.randn(n, generator.z_dim, generator=gen).to(dev)
            ws.append(generator.mapping(z, 1.0, None)[:, 0].float())
        w = torch.cat(ws)
        w_avg = w.mean(0)
        w_std = float(((w - w_avg).pow(2).sum(1).mean()).sqrt())
        cache[key] = (w_avg, w_std)
    return cache[key]


_W_AXES: "weakref.WeakKeyDictionary[nn.Module, tuple[torch.Tensor, torch.Tensor]]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def w_principal_axes(generator: Generator, like: torch.Tensor, samples: int = 2000,
                     seed: int = 123) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal axes of mapped ``w`` (columns of ``[w_dim, w_dim]``, largest variance first) and the
    std of ``w`` along each (``[w_dim]``), from ``samples`` seeded ``z``; cached per generator."""
    if generator not in _W_AXES:
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(samples, generator.z_dim, generator=gen).to(device_of(generator))
        w = generator.mapping(z, 1.0, None)[:, 0].double()
        centred = w - w.mean(0)
        _, sv, vh = torch.linalg.svd(centred, full_matrices=False)
        _W_AXES[generator] = (vh.T.float(), (sv / (samples - 1) ** 0.5).float())
    axes, stds = _W_AXES[generator]
    return axes.to(like), stds.to(like)


# ----------------------------------------------------------------------------- parameters


def mapping_parameter_names(generator: Generator) -> set[str]:
    """Names of the parameters the mapping network uses, found by differentiating ``mapping``.

    This works for any generator with a ``mapping`` method, whatever its module layout.
    """
    named = [(n, p) for n, p in generator.named_parameters()]
    if not named:
        return set()
    flags = [p.requires_grad for _, p in named]
    try:
        for _, p in named:
            p.requires_grad_(True)
        z = torch.randn(2, generator.z_dim, generator=torch.Generator().manual_seed(0)).to(device_of(generator))
        with torch.enable_grad():
            out = generator.mapping(z, 1.0, None)
            grads = torch.autograd.grad(out.float().square().sum(), [p for _, p in named], allow_unused=True)
    finally:
        for (_, p), f in zip(named, flags):
            p.requires_grad_(f)
    return {n for (n, _), g in zip(named, grads) if g is not None}


def parameter_resolutions(generator: Generator) -> dict[str, int]:
    """The output resolution of each synthesis parameter: the spatial size of the 4-D output of the
    innermost module holding it that returns one, recorded with forward hooks over one synthesis of
    a mapped random ``z`` (works for any layout whose layers are modules). A module holding layers
    of several resolutions (one of them at half its own size or less: a whole synthesis network)
    places none of its own parameters, and a parameter whose modules never ran (a layer the
    synthesis skips) has none: both are left out."""
    sizes: dict[str, int] = {}

    def record(name: str):
        def hook(module: nn.Module, args: object, out: object) -> None:
            first = out if torch.is_tensor(out) else next(
                (o for o in out if torch.is_tensor(o)), None) if isinstance(out, (tuple, list)) else None
            if first is not None and first.ndim == 4:
                sizes[name] = max(sizes.get(name, 0), int(first.shape[-1]))
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in generator.named_modules() if n]
    try:
        z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(0)).to(device_of(generator))
        with torch.no_grad():
            synthesize(generator, generator.mapping(z, 1.0, None), "const")
    finally:
        for h in handles:
            h.remove()
    spans = {n for n, r in sizes.items() if any(o.startswith(n + ".") and 2 * q <= r for o, q in sizes.items())}
    skip = mapping_parameter_names(generator)
    out: dict[str, int] = {}
    for name, _ in generator.named_parameters():
        if name in skip:
            continue
        parts = name.split(".")[:-1]
        while parts and ".".join(parts) not in sizes:
            parts.pop()
        if parts and ".".join(parts) not in spans:
            out[name] = sizes[".".join(parts)]
    return out


def parameters_at(generator: Generator, resolutions: set[int] | None) -> list[tuple[str, nn.Parameter]]:
    """The synthesis parameters of the layers that render at ``resolutions`` (None: the
    :data:`FINE_RESOLUTIONS` finest), by :func:`parameter_resolutions`."""
    res = parameter_resolutions(generator)
    wanted = set(sorted(set(res.values()))[-FINE_RESOLUTIONS:]) if resolutions is None else set(resolutions)
    chosen = [(n, p) for n, p in generator.named_parameters() if res.get(n) in wanted]
    if not chosen:
        raise InversionError(f"no layer of {type(generator).__name__} renders at {sorted(wanted) or 'any size'} px "
                             f"(layers seen at {sorted(set(res.values()))} px: modules returning 4-D feature maps "
                             f"during synthesis); use tune: synthesis or name the parameters (prefixes)")
    return chosen


def select_parameters(generator: Generator, tune: TuneSelection | Sequence[str]) -> list[tuple[str, nn.Parameter]]:
    """The parameters generator tuning updates.

    ``'synthesis'``: everything but the mapping network (the pivot latent stays fixed, so the
    mapping would only move other images); ``'fine'``: the synthesis parameters of the layers that
    render the :data:`FINE_RESOLUTIONS` finest resolutions (:func:`parameter_resolutions`; 32 and
    64 px in a 64 px StyleGAN2); ``'all'``: every parameter; a list of name prefixes: exactly the
    parameters whose names start with one of them.
    """
    named = list(generator.named_parameters())
    if tune == "auto":
        raise InversionError("tune='auto' depends on the noise maps a tuning inverter fits; pass 'fine' or "
                             "'synthesis' here")
    if tune == "all":
        chosen = named
    elif tune == "synthesis":
        skip = mapping_parameter_names(generator)
        chosen = [(n, p) for n, p in named if n not in skip]
    elif tune == "fine":
        return parameters_at(generator, None)
    else:
        prefixes = tuple(tune)
        chosen = [(n, p) for n, p in named if n.startswith(prefixes)]
        if not chosen:
            raise InversionError(f"tune: no generator parameter starts with any of {list(prefixes)}; "
                                 f"names look like {[n for n, _ in named[:4]]}")
    if not chosen:
        raise InversionError(f"tune={tune!r} selects no parameter of {type(generator).__name__}")
    return chosen


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every parameter frozen (the original is never modified)."""
    twin = copy.deepcopy(module).eval()
    twin.requires_grad_(False)
    return twin


# ----------------------------------------------------------------------------- locality


def random_noise(generator: Generator, batch: int, rng: torch.Generator,
                 like: torch.Tensor) -> list[torch.Tensor] | None:
    """Seeded per-sample noise maps ``[batch, 1, r, r]`` for every layer (None without noise maps)."""
    if not has_noise_maps(generator):
        return None
    return [torch.randn(batch, 1, *b.shape[-2:], generator=rng).to(device=like.device, dtype=like.dtype)
            for b in generator.noise_buffers()]


@torch.no_grad()
def locality_latents(generator: Generator, samples: int, seed: int) -> torch.Tensor:
    """A fixed set of random ``z [samples, z_dim]`` (seeded) for locality checks."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(samples, generator.z_dim, generator=gen)


@torch.no_grad()
def locality_mae(original: Generator, tuned: Generator, z: torch.Tensor, truncation_psi: float = 1.0,
                 noise: str = "seeded", noise_seed: int = 1, batch: int = 8) -> float:
    """Mean absolute change of the tuned generator's output vs the original for fixed random ``z``.

    Each generator maps ``z`` with its own mapping (identical unless the mapping was tuned).
    ``noise='seeded'`` (default) gives every random sample its own seeded noise maps, the same for
    both generators, as StyleGAN samples are drawn: this measures the change of the network. The
    constant noise buffers are image-specific state (NVIDIA's projector optimises them per image),
    which ``noise='const'`` includes. Images are in [-1, 1].
    """
    rng = torch.Generator().manual_seed(noise_seed)
    total, count = 0.0, 0
    for start in range(0, z.shape[0], batch):
        zb = z[start:start + batch]
        ws0 = original.mapping(zb.to(device_of(original)), truncation_psi, None)
        ws1 = tuned.mapping(zb.to(device_of(tuned)), truncation_psi, None)
        maps = random_noise(original, zb.shape[0], rng, ws0) if noise == "seeded" else None
        a = synthesize(original, ws0, "const", maps)
        b = synthesize(tuned, ws1, "const", [m.to(ws1) for m in maps] if maps is not None else None).to(a.device)
        total += float((a.float() - b.float()).abs().sum())
        count += a.numel()
    return total / max(count, 1)


# ----------------------------------------------------------------------------- per-image noise


def clone_noise(maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Detached copies of noise maps (e.g. a generator's constant buffers as a tuning start)."""
    return [m.detach().clone() for m in maps]


class WithImageNoise(Generator):
    """A view of ``generator`` that renders ``noise_mode='const'`` with one image's own noise maps.

    Inverters that fit noise maps return them as image state (``InversionResult.noise``), next to
    the latent, and leave the generator's shared constant buffers alone, so random samples and
    ``locality_mae_const`` of the generator are not affected by any image. This view is what
    shows and edits that image: ``synthesis``/``generate`` use the maps whenever no explicit
    ``noise`` is passed and ``noise_mode`` is ``const``; everything else is the wrapped
    generator's (its parameters are shared, not copied).
    """

    def __init__(self, generator: Generator, maps: Sequence[torch.Tensor]):
        super().__init__()
        self.base = generator
        shapes = [tuple(b.shape[-2:]) for b in generator.noise_buffers()]
        if [tuple(m.shape[-2:]) for m in maps] != shapes:
            raise InversionError(f"image noise maps {[tuple(m.shape) for m in maps]} do not fit the generator's "
                                 f"noise layers {shapes}")
        for i, m in enumerate(maps):
            self.register_buffer(f"image_noise_{i}", m.detach().reshape(-1, 1, *m.shape[-2:]).clone())
        self.num_maps = len(maps)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            base = self.__dict__["_modules"].get("base")
            if base is None:
                raise
            return getattr(base, name)

    def noise_buffers(self) -> list[torch.Tensor]:
        """The image's noise maps (what ``const`` noise means for this view)."""
        return [getattr(self, f"image_noise_{i}") for i in range(self.num_maps)]

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        if noise is None and noise_mode == "const":
            noise = [m.expand(ws.shape[0], -1, -1, -1) if m.shape[0] == 1 else m for m in self.noise_buffers()]
        return synthesize(self.base, ws, noise_mode, noise)

    def generate(self, latent: Latent, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(ws_of(self.base, latent, "generate"), noise_mode)

    def forward(self, latent: Latent, noise_mode: str = "const") -> torch.Tensor:
        return self.generate(latent, noise_mode)


def with_noise(generator: Generator, maps: Sequence[torch.Tensor] | None) -> Generator:
    """``generator`` rendering its constant noise with ``maps`` (itself when ``maps`` is None)."""
    return generator if maps is None else WithImageNoise(generator, maps)


# ----------------------------------------------------------------------------- edit drift


def _expand_maps(maps: Sequence[torch.Tensor] | None, batch: int, dev: torch.device) -> list[torch.Tensor] | None:
    if maps is None:
        return None
    return [m.to(dev).expand(batch, -1, -1, -1) if m.shape[0] == 1 else m.to(dev) for m in maps]


@torch.no_grad()
def edit_drift(original: Generator, tuned: Generator, ws: torch.Tensor, edited_ws: torch.Tensor,
               noise: Sequence[torch.Tensor] | None = None, eps: float = 1e-8) -> float | None:
    """How much a generator tweak changed an edit: ``||d_tuned - d_orig|| / ||d_orig||``.

    ``d_G = G(edited_ws) - G(ws)`` is the edit's effect on the image. Both generators render with
    the same noise: ``noise``, the image's own maps, when given (the inversion shows the image and
    its edits with them), else their constant buffers (a tuned generator keeps the original's).
    So the number measures what the tweak of the weights did to the edit, including how the
    tweaked noise strengths turn the image's maps into detail that does not follow the edit; a
    different noise realisation alone does not count (this generator's edits change with it).
    0 = the tweak left the edit untouched, 1 = its effect is as wrong as it is large. None when the
    edit does not change the original's image (nothing to compare).
    """
    dev = device_of(original)
    ws, edited_ws = ws.to(dev), edited_ws.to(dev)
    if ws.shape[0] != edited_ws.shape[0]:
        ws = ws.expand(edited_ws.shape[0], -1, -1)
    maps = _expand_maps(noise, edited_ws.shape[0], dev)

    def effect(g: Generator) -> torch.Tensor:
        return (synthesize(g, edited_ws, "const", maps) - synthesize(g, ws, "const", maps)).double().to(dev)

    d_orig, d_tuned = effect(original), effect(tuned)
    norm = float(d_orig.norm())
    if norm <= eps * d_orig.numel() ** 0.5:
        return None
    return float((d_tuned - d_orig).norm()) / norm


@torch.no_grad()
def local_drift_bound(original: Generator, target: torch.Tensor, ws: torch.Tensor, edited_ws: torch.Tensor,
                      noise: Sequence[torch.Tensor] | None = None, eps: float = 1e-8) -> float | None:
    """The :func:`edit_drift` of a perfectly local tweak: ``||x - G(w)|| / ||G(e) - G(w)||``.

    A tweak that makes ``G(w)`` the target ``x`` and changes nothing else leaves the edited image
    ``G(e)`` as it was, so its edit effect is off by the whole inversion residual ``x - G(w)``
    (rendered with the same noise as :func:`edit_drift`). A drift below this number needs a tweak
    that carries its correction into the edited codes. None when the edit does nothing.
    """
    dev = device_of(original)
    ws, edited_ws = ws.to(dev), edited_ws.to(dev)
    maps = _expand_maps(noise, edited_ws.shape[0], dev)
    base = synthesize(original, ws.expand(edited_ws.shape[0], -1, -1), "const", maps).double()
    d_orig = synthesize(original, edited_ws, "const", maps).double() - base
    norm = float(d_orig.norm())
    if norm <= eps * d_orig.numel() ** 0.5:
        return None
    return float((target.to(dev).double() - base).norm()) / norm
