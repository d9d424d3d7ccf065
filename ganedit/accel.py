"""Run options that make the networks fast: precision (autocast), channels_last, torch.compile.

A run config sets them at the top level (``precision``, ``channels_last``, ``compile``; see
docs/config.md); tasks turn them into an :class:`Accel` with :meth:`Accel.from_context`, which
also supplies each task's defaults. Measured effects are in docs/benchmarks.md.

* ``precision: bf16 | fp16`` runs the networks under :func:`torch.autocast` (convolutions and
  matmuls in half precision, bf16 on CPU through AVX512-BF16/AMX). Losses stay float32 where the
  networks' outputs meet them (:func:`as_float`), backward passes and optimizer steps run outside
  autocast, and regularizers that differentiate twice (R1, path length) run in float32 inside
  :meth:`Accel.full_precision`. fp16 uses a gradient scaler (:meth:`Accel.backward`).
* ``channels_last`` stores 4-D parameters and input batches NHWC: oneDNN convolutions and the
  depthwise FIR filters skip their layout reorders (on CPU 1.3-1.5x for the SwapAE step).
* ``compile`` wraps the networks' training forward in :func:`torch.compile`; without a working
  backend it says so once and runs eagerly. Regularizer passes always run eagerly (compiled
  graphs do not support the double backward they need).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import inspect
import logging
import platform
import shutil
from typing import Any, Callable, Iterator, Literal, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def bf16_supported(device: torch.device | str) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (CPU: AVX512-BF16 or AMX; CUDA: sm80+)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        try:
            return bool(check()) if check is not None else False
        except RuntimeError:
            return False
    return False


#: bf16 must run the probe convolution at least this much faster than fp32 to be chosen under
#: ``auto`` (a margin, so that load noise does not flip the choice between runs)
BF16_MIN_SPEEDUP = 1.3
_bf16_speedup_cache: dict[int, float] = {}  # torch threads -> measured speed-up


def bf16_speedup(device: torch.device | str) -> float:
    """Measured fp32 / bf16 time of a training-sized 3x3 convolution (forward + backward, channels_last,
    at the current thread count) on a CPU; cached per thread count. CUDA: +inf where bf16 is supported.

    Native bf16 is not always faster: AVX512-BF16 on AMD Zen 5 ran this convolution 2x faster than
    fp32, while an Intel Xeon (model 207) that reports AVX512-BF16 without AMX ran it 1.8x slower
    (docs/config.md, "Run options"). So ``auto`` measures instead of trusting the flag."""
    device = torch.device(device)
    if not bf16_supported(device):
        return 0.0
    if device.type != "cpu":
        return float("inf")
    key = torch.get_num_threads()
    if key not in _bf16_speedup_cache:
        import time

        g = torch.Generator().manual_seed(0)
        x = torch.randn(8, 64, 32, 32, generator=g).to(memory_format=torch.channels_last)
        w = torch.randn(64, 64, 3, 3, generator=g).to(memory_format=torch.channels_last)

        def best(dtype: torch.dtype) -> float:
            xi = x.to(dtype).requires_grad_(True)
            wi = w.to(dtype).requires_grad_(True)
            times = []
            for _ in range(4):  # the first call builds the kernels: dropped by min()
                t0 = time.perf_counter()
                torch.nn.functional.conv2d(xi, wi, padding=1).sum().backward()
                times.append(time.perf_counter() - t0)
            return min(times[1:])

        _bf16_speedup_cache[key] = best(torch.float32) / best(torch.bfloat16)
    return _bf16_speedup_cache[key]


def resolve_precision(requested: str | None, device: torch.device | str, default: str = "fp32") -> str:
    """The precision a run uses: ``requested`` (``None``/``'auto'``: the task's ``default``, which
    falls back to fp32 where the hardware has no native bf16, or on a CPU where bf16 convolutions
    measure less than :data:`BF16_MIN_SPEEDUP` times faster than fp32's)."""
    device = torch.device(device)
    if requested in (None, "auto"):
        if default == "bf16":
            speedup = bf16_speedup(device)
            if speedup < BF16_MIN_SPEEDUP:
                if speedup > 0:
                    log.info("precision auto: fp32 (bf16 convolutions measured %.2fx of fp32's speed here)",
                             speedup)
                return "fp32"
        if default == "fp16" and device.type != "cuda":
            return "fp32"
        return default
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of auto, {', '.join(PRECISIONS)}; got {requested!r}")
    return requested


def to_channels_last(module: nn.Module) -> nn.Module:
    """Store the convolution kernels of ``module`` in channels_last, in place: 4-D parameters and
    buffers ``[out > 1, in, k, k]`` with ``k > 1`` (a leading 1, as in constant inputs and noise
    maps ``[1, C, H, W]``, marks an activation-like tensor, which stays as it is).

    Values and shapes are unchanged (state dicts, checkpoints and ``load_state_dict`` keep
    working; safetensors files are written contiguous by :mod:`ganedit.io.checkpoint`)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if (t.ndim == 4 and t.shape[0] > 1 and t.shape[-1] * t.shape[-2] > 1
                    and not t.is_contiguous(memory_format=torch.channels_last)):
                t.data = t.data.contiguous(memory_format=torch.channels_last)
    return module


def batch_to_channels_last(batch: Any) -> Any:
    """4-D floating tensors inside a (nested) batch in channels_last; everything else unchanged."""
    if isinstance(batch, torch.Tensor):
        if batch.ndim == 4 and batch.is_floating_point():
            return batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, dict):
        return {k: batch_to_channels_last(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(batch_to_channels_last(v) for v in batch)
    return batch


def as_float(*tensors: torch.Tensor) -> Any:
    """``tensors`` in float32 (a no-op for float32): network outputs entering a loss under autocast."""
    out = tuple(t.float() if t.is_floating_point() and t.dtype != torch.float32 else t for t in tensors)
    return out[0] if len(out) == 1 else out


def fast_adam_options() -> dict[str, bool]:
    """``{'fused': True}`` where this torch has the fused Adam kernel for CPU and CUDA (one kernel
    per parameter instead of about ten ops; 2.4 and later), else ``{'foreach': True}``. The update
    is Adam's; only the rounding of its arithmetic may differ in the last bit."""
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    return {"fused": True} if (major, minor) >= (2, 4) else {"foreach": True}


def _eager(cls: type, name: str) -> Callable[..., Any]:
    """``cls.name`` without torch's torch.compile wrappers: the function they wrap (``__wrapped__``),
    or the method itself when this torch does not wrap it."""
    method = getattr(cls, name)
    raw = inspect.unwrap(method)
    return raw if raw.__qualname__ == method.__qualname__ else method


class Adam(torch.optim.Adam):
    """``torch.optim.Adam`` for eager runs: the same update, state and ``state_dict``.

    torch wraps ``Optimizer``'s methods for ``torch.compile`` (``add_param_group``, ``zero_grad``,
    ``state_dict`` and ``load_state_dict`` in ``_disable_dynamo``, ``step`` in graph breaks). Outside
    a compiled region the wrappers do nothing, but their first call imports ``torch._dynamo``: 1.5 s
    of every process that builds an optimizer (AMD EPYC, one thread; docs/benchmarks.md), nothing
    else in a run imports it. This class calls the wrapped methods directly, and ``step`` runs under
    ``no_grad`` as torch's wrapper does for ``differentiable=False``. Optimizer steps are never
    inside a compiled region here (``compile`` wraps the networks' forwards); for one that is, use
    ``torch.optim.Adam``.
    """

    add_param_group = _eager(torch.optim.Optimizer, "add_param_group")
    zero_grad = _eager(torch.optim.Optimizer, "zero_grad")
    state_dict = _eager(torch.optim.Optimizer, "state_dict")
    load_state_dict = _eager(torch.optim.Optimizer, "load_state_dict")
    _step = _eager(torch.optim.Adam, "step")

    def __init__(self, params: Any, **kwargs: Any):
        if kwargs.get("differentiable"):
            raise ValueError("ganedit.accel.Adam: differentiable=True needs torch.optim.Adam")
        super().__init__(params, **kwargs)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        with torch.no_grad():
            return self._step(closure)


def unused_run_options(config: Any) -> list[str]:
    """The run options ``config`` sets (``precision`` other than auto/fp32, ``channels_last``,
    ``compile``), as ``key: value`` strings; the runner names them when the task never asked for
    them (:meth:`Accel.from_context`), instead of ignoring them silently."""
    out = []
    if getattr(config, "precision", "auto") not in ("auto", "fp32"):
        out.append(f"precision: {config.precision}")
    if getattr(config, "channels_last", None) is not None:
        out.append(f"channels_last: {str(config.channels_last).lower()}")
    if getattr(config, "compile", False):
        out.append("compile: true")
    return out


def compile_unavailable() -> str | None:
    """Why ``torch.compile`` cannot run here (None when it can)."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    try:
        importlib.import_module("torch._inductor")  # (an `import torch._inductor` would make torch local)
    except Exception as exc:  # noqa: BLE001 - any import failure means no backend
        return f"the inductor backend does not import ({type(exc).__name__}: {exc})"
    if not any(shutil.which(cc) for cc in ("cc", "gcc", "clang", "c++", "g++")):
        return "inductor's CPU backend needs a C/C++ compiler, and none is on PATH"
    return None


#: glibc mallopt parameters: allocations above M_MMAP_THRESHOLD get their own mmap (and page
#: faults on first touch, every time); free memory above M_TRIM_THRESHOLD at the top of the heap
#: goes back to the system (and faults in again on the next step).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_freed_memory_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for the next allocation instead of returning it to the
    system (once per process; True when it took effect, False where the C library is not glibc).

    A CPU training step allocates and frees the same large activation buffers every step. With
    glibc's defaults each buffer of more than a few MB is a fresh ``mmap`` whose pages fault in
    on first touch: about 500 page faults per 3 MB tensor, which made an elementwise op 3-5x and a
    convolution about 1.2x slower (docs/benchmarks.md). Here buffers up to 1 GiB come from the heap
    and are reused; the process keeps its peak memory, as CUDA's caching allocator does on GPU."""
    global _freed_memory_kept
    if _freed_memory_kept is None:
        _freed_memory_kept = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL(None)
                _freed_memory_kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
                                          and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
            except (OSError, AttributeError):
                pass
    return _freed_memory_kept


class Accel:
    """The speed options of one run on one device (see the module docstring)."""

    def __init__(self, device: torch.device | str = "cpu", precision: str = "fp32", channels_last: bool = False,
                 compile: bool = False, say: Callable[[str], None] | None = None):
        self.device = torch.device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.precision = precision
        self.dtype = DTYPES[precision]
        self.channels_last = bool(channels_last)
        self.say = say or log.info
        self.compile = False
        if compile:
            why = compile_unavailable()
            if why:
                self.say(f"compile: true requested, but {why}: running the networks eagerly")
            else:
                self.compile = True
        self.scaler = None
        if precision == "fp16":
            self.scaler = torch.amp.GradScaler(self.device.type)
        self._eager_depth = 0

    @classmethod
    def from_context(cls, context: Any, device: torch.device | str | None = None, precision: str = "fp32",
                     channels_last: bool = False, resumed: str | None = None) -> "Accel":
        """The run's options (``context.config``), with this task's defaults for what is unset
        (``precision: auto``, ``channels_last`` unset). ``resumed``: the precision of the run being
        resumed, which ``auto`` keeps (``auto`` picks by timing this machine, and a run resumed on
        another machine would otherwise switch precision halfway)."""
        device = torch.device(device if device is not None else getattr(context, "device", "cpu"))
        if device.type == "cpu":
            keep_freed_memory()
        try:  # the runner reports options that no task read (see unused_run_options)
            context.run_options_used = True
        except AttributeError:
            pass
        cfg = getattr(context, "config", None)
        req = getattr(cfg, "precision", None)
        cl = getattr(cfg, "channels_last", None)
        say = getattr(context, "log", None)
        say = say if callable(say) else None
        if req in (None, "auto") and resumed in PRECISIONS:
            chosen = resumed
        else:
            chosen = resolve_precision(req, device, precision)
            if resumed in PRECISIONS and resumed != chosen:
                (say or log.info)(f"note: the run being resumed trained in {resumed}; it goes on in {chosen} "
                                  f"(precision: {req})")
        return cls(device, chosen, channels_last if cl is None else cl, bool(getattr(cfg, "compile", False)), say)

    def describe(self) -> str:
        return (f"precision {self.precision}, channels_last {'on' if self.channels_last else 'off'}, "
                f"compile {'on' if self.compile else 'off'}")

    # ------------------------------------------------------------------ precision
    @property
    def mixed(self) -> bool:
        return self.precision != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Forward passes of the networks in the run's precision (a no-op for fp32)."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @contextlib.contextmanager
    def full_precision(self) -> Iterator[None]:
        """float32 and eager networks inside the block (regularizers: R1, path length)."""
        self._eager_depth += 1
        try:
            if self.mixed:
                with torch.autocast(self.device.type, enabled=False):
                    yield
            else:
                yield
        finally:
            self._eager_depth -= 1

    @property
    def eager(self) -> bool:
        """True inside :meth:`full_precision` (compiled wrappers then call the plain network)."""
        return self._eager_depth > 0

    def backward(self, loss: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer],
                 between: Callable[[], None] | None = None) -> None:
        """``backward`` (outside autocast, scaled for fp16), then ``between()`` (e.g. a gradient
        all-reduce), then a step of each optimizer; zero the gradients before calling."""
        with torch.autocast(self.device.type, enabled=False) if self.mixed else contextlib.nullcontext():
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
            else:
                loss.backward()
        if between is not None:
            between()
        for opt in optimizers:
            if self.scaler is not None:
                self.scaler.step(opt)
            else:
                opt.step()
        if self.scaler is not None:
            self.scaler.update()

    # ------------------------------------------------------------------ layout and compilation
    def module(self, module: nn.Module) -> nn.Module:
        """``module`` with channels_last weights when that option is on (in place)."""
        return to_channels_last(module) if self.channels_last else module

    def batch(self, batch: Any) -> Any:
        """A data batch in the run's memory format."""
        return batch_to_channels_last(batch) if self.channels_last else batch

    def compiled(self, fn: nn.Module) -> nn.Module:
        """``fn`` under ``torch.compile`` when that option is on (see :class:`Compiled`)."""
        return Compiled(fn, self) if self.compile else fn


class Compiled(nn.Module):
    """A network's ``torch.compile`` twin; the plain network inside :meth:`Accel.full_precision` and
    after a compilation failure (reported once)."""

    def __init__(self, module: nn.Module, accel: Accel):
        super().__init__()
        # Not registered as a child: the plain module is saved and checkpointed by its owner.
        object.__setattr__(self, "plain", module)
        object.__setattr__(self, "fast", torch.compile(module))
        object.__setattr__(self, "accel", accel)
        object.__setattr__(self, "failed", False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.accel.eager or self.failed:
            return self.plain(*args, **kwargs)
        try:
            return self.fast(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any backend failure: fall back, say why once
            object.__setattr__(self, "failed", True)
            self.accel.say(f"compile: torch.compile of {type(self.plain).__name__} failed "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); running it eagerly")
            return self.plain(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "plain"), name)


__all__ = [
    "Accel",
    "Adam",
    "Compiled",
    "PRECISIONS",
    "Precision",
    "as_float",
    "batch_to_channels_last",
    "bf16_speedup",
    "bf16_supported",
    "compile_unavailable",
    "fast_adam_options",
    "resolve_precision",
    "to_channels_last",
    "unused_run_options",
]
