"""Optimisation helpers shared by the trainers: EMA, gradient switches, lazy-regularisation Adam."""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from ganedit.accel import Adam, fast_adam_options
from ganedit.distributed import unwrap


@torch.no_grad()
def accumulate(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers are copied.

    Copying buffers keeps running statistics and fixed noise maps of the EMA copy equal to the
    trained model's (rosinality's ``accumulate`` skips them, which leaves ``g_ema``'s noise
    buffers different from ``g``'s). One multi-tensor (``_foreach``) call per operation: the same
    arithmetic as a loop over the tensors, without the per-tensor Python cost.
    """
    model = unwrap(model)
    ema_params = dict(ema.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    if names:
        dst = [ema_params[n] for n in names]
        torch._foreach_mul_(dst, decay)
        torch._foreach_add_(dst, [p.detach() for p in model.parameters()], alpha=1.0 - decay)
    ema_buffers = dict(ema.named_buffers())
    pairs = [(ema_buffers[n], b) for n, b in model.named_buffers()]
    if pairs:
        torch._foreach_copy_([d for d, _ in pairs], [b for _, b in pairs])


def requires_grad(module: nn.Module, flag: bool) -> None:
    """Switch gradient tracking for all parameters of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Inside the block no parameter of ``modules`` requires grad (gradients still reach their
    inputs); the previous flags are restored afterwards, even on error."""
    saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def lazy_ratio(reg_every: int) -> float:
    """``c = k / (k + 1)``: the share of optimizer steps that are regular ones (1 when ``k == 0``)."""
    return reg_every / (reg_every + 1) if reg_every > 0 else 1.0


def make_adam(params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float,
              betas: tuple[float, float] = (0.0, 0.99), reg_every: int = 0,
              eps: float = 1e-8) -> Adam:
    """Adam with StyleGAN2's lazy-regularization correction.

    A regularizer applied every ``reg_every`` steps adds one extra optimizer step per ``reg_every``
    regular ones; scaling ``lr`` by ``c = k/(k+1)`` and raising ``betas`` to ``c`` keeps the
    per-image learning dynamics of the non-lazy schedule (Karras et al. 2020, appendix B).
    """
    c = lazy_ratio(reg_every)
    return Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps,
                **fast_adam_options())
