"""Run options precision / channels_last / compile (ganedit.accel): each runs and gives finite,
close results. Their speed is measured in benchmarks/throughput.py, never here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import ganedit
from ganedit import accel
from ganedit.accel import Accel, Compiled, as_float, resolve_precision, to_channels_last
from ganedit.testing import torch_threads
from ganedit.training import read_train_log


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def test_resolve_precision_defaults_fallbacks_and_errors(monkeypatch):
    assert resolve_precision(None, "cpu") == "fp32"
    assert resolve_precision("auto", "cpu", default="fp32") == "fp32"
    assert resolve_precision("bf16", "cpu", default="fp32") == "bf16"  # asked for: given
    monkeypatch.setattr(accel, "bf16_supported", lambda device: False)
    assert resolve_precision("auto", "cpu", default="bf16") == "fp32"  # a task default needs hardware
    assert resolve_precision("auto", "cpu", default="fp16") == "fp32"  # fp16 autocast: CUDA only
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int8", "cpu")
    monkeypatch.undo()


def test_auto_takes_bf16_only_where_it_measures_faster(monkeypatch):
    # Native bf16 is not always faster (an Intel CPU with AVX512-BF16 but no AMX ran the probe
    # convolution 1.8x slower): `auto` goes by the measured speed-up, with a margin.
    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 0.55)
    assert resolve_precision("auto", "cpu", default="bf16") == "fp32"
    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 1.2)
    assert resolve_precision("auto", "cpu", default="bf16") == "fp32"  # within the margin: keep fp32
    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 2.0)
    assert resolve_precision("auto", "cpu", default="bf16") == "bf16"
    assert resolve_precision("fp32", "cpu", default="bf16") == "fp32"  # asked for: given


def test_bf16_speedup_is_measured_once_per_thread_count(monkeypatch):
    monkeypatch.setattr(accel, "_bf16_speedup_cache", {})
    monkeypatch.setattr(accel, "bf16_supported", lambda device: True)
    first = accel.bf16_speedup("cpu")
    assert 0 < first < float("inf")
    assert accel.bf16_speedup("cpu") == first  # cached: the choice cannot flip within a process
    monkeypatch.setattr(accel, "bf16_supported", lambda device: False)
    assert accel.bf16_speedup("cpu") == 0.0
    with pytest.raises(ValueError, match="precision must be one of"):
        Accel("cpu", precision="half")


def test_autocast_runs_convolutions_in_bf16_and_full_precision_restores_fp32():
    a = Accel("cpu", precision="bf16")
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    with a.autocast():
        y = conv(x)
        with a.full_precision():
            assert a.eager
            z = conv(x)
    assert y.dtype == torch.bfloat16 and z.dtype == torch.float32 and not a.eager
    assert as_float(y).dtype == torch.float32
    torch.testing.assert_close(as_float(y), z, atol=0.05, rtol=0.05)


def test_channels_last_changes_layout_only():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 3, 1))
    net.register_buffer("const", torch.randn(1, 8, 4, 4))  # activation-like: left as it is
    x = torch.randn(2, 3, 8, 8)
    ref = net(x)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    to_channels_last(net)
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert net.const.is_contiguous()
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])
    torch.testing.assert_close(net(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5, rtol=1e-5)


def test_compile_availability_is_a_reason_or_none():
    why = accel.compile_unavailable()
    assert why is None or (isinstance(why, str) and why)
    assert Accel("cpu", compile=True, say=lambda m: None).compile == (why is None)


def test_compile_without_a_backend_says_why_and_runs_eagerly(monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(accel, "compile_unavailable", lambda: "no compiler here")
    a = Accel("cpu", compile=True, say=said.append)
    assert not a.compile and said and "no compiler here" in said[0] and "eagerly" in said[0]
    net = nn.Linear(2, 2)
    assert a.compiled(net) is net


def test_a_failing_compiled_network_falls_back_once_with_a_message():
    said: list[str] = []
    a = Accel("cpu", say=said.append)
    net = nn.Linear(3, 2)
    wrapped = Compiled(net, a)

    def broken(*args, **kwargs):
        raise RuntimeError("backend exploded\nwith details")

    object.__setattr__(wrapped, "fast", broken)
    x = torch.randn(4, 3)
    torch.testing.assert_close(wrapped(x), net(x))
    torch.testing.assert_close(wrapped(x), net(x))
    assert len(said) == 1 and "backend exploded" in said[0] and "eagerly" in said[0]
    assert wrapped.weight is net.weight  # attributes reach the plain network
    assert list(wrapped.parameters()) == []  # not registered twice: its owner saves the network


def test_fp16_backward_uses_a_grad_scaler():
    a = Accel("cpu", precision="fp16")
    assert a.scaler is not None
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    a.backward((p * 2).sum(), [opt])
    torch.testing.assert_close(p.detach(), torch.full((3,), 0.8))  # unscaled step: 1 - 0.1 * 2


def _swapae_config(steps: int, **over) -> dict:
    from ganedit_swapae.testing import TINY_OPTIONS

    cfg = {
        "task": "swapae_train", "seed": 3, "device": "cpu",
        "dataset": {"type": "procedural", "params": {"resolution": 32, "length": 24}},
        "model": dict(TINY_OPTIONS),
        "steps": steps, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
        "r1_every": 2, "grid_images": 2, "num_workers": 0,
    }
    cfg.update(over)
    return cfg


@pytest.mark.parametrize("option, tol", [({"precision": "fp32", "channels_last": False}, 1e-4),
                                         ({"precision": "bf16"}, 0.1)])
def test_swapae_training_option_gives_finite_losses_close_to_fp32(tmp_path: Path, option, tol):
    ref = tmp_path / "ref"
    ganedit.run(_swapae_config(4, precision="fp32"), output=ref, quiet=True)  # channels_last: on (CPU default)
    out = tmp_path / "opt"
    ganedit.run(_swapae_config(4, **option), output=out, quiet=True)
    a, b = read_train_log(ref), read_train_log(out)
    assert [e["step"] for e in b] == [1, 2, 3, 4]
    for ea, eb in zip(a, b):
        for k, v in eb.items():
            assert math.isfinite(v), (k, v)
            assert v == pytest.approx(ea[k], rel=tol, abs=tol), (eb["step"], k, v, ea[k])
    if "precision" in option:  # the option took effect: half-precision rounding shows
        assert any(eb[k] != ea[k] for ea, eb in zip(a, b) for k in eb if k != "step")


def test_unused_run_options_names_what_a_config_sets():
    from ganedit.accel import unused_run_options
    from ganedit.config import RunConfig

    assert unused_run_options(RunConfig(task="x")) == []
    assert unused_run_options(RunConfig(task="x", precision="fp32")) == []
    assert unused_run_options(RunConfig(task="x", precision="bf16", channels_last=False, compile=True)) == [
        "precision: bf16", "channels_last: false", "compile: true"]


def test_keep_freed_memory_takes_effect_once_on_glibc():
    import platform

    first = accel.keep_freed_memory()
    assert accel.keep_freed_memory() is first  # once per process, same answer
    assert first == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def _adam_run(cls: type, steps: int = 5, state: dict | None = None, **kwargs):
    """A two-group toy fit with ``cls``; its parameters, state_dict and the optimizer."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = cls([{"params": net[0].parameters(), "lr": 1e-2}, {"params": net[2].parameters()}], lr=3e-3,
              betas=(0.5, 0.9), **kwargs)
    if state is not None:
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
    x = torch.randn(32, 8)
    for i in range(steps):
        opt.zero_grad()
        if i % 2:
            opt.step(lambda: net(x).pow(2).mean().backward())  # the closure form too
        else:
            net(x).pow(2).mean().backward()
            opt.step()
    return [p.detach().clone() for p in net.parameters()], {"net": net.state_dict(), "opt": opt.state_dict()}


@pytest.mark.parametrize("options", [{"fused": True}, {"foreach": True}, {}])
def test_eager_adam_is_torch_adam_bit_for_bit_and_resumes(options):
    ours, ours_state = _adam_run(accel.Adam, **options)
    theirs, theirs_state = _adam_run(torch.optim.Adam, **options)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert ours_state["opt"]["param_groups"] == theirs_state["opt"]["param_groups"]
    for k, s in ours_state["opt"]["state"].items():
        assert all(torch.equal(s[key], theirs_state["opt"]["state"][k][key]) for key in s)
    # a run resumed from the state dict continues exactly as an uninterrupted one
    resumed, _ = _adam_run(accel.Adam, steps=3, state=ours_state, **options)
    straight, _ = _adam_run(torch.optim.Adam, steps=8, **options)
    assert all(torch.equal(a, b) for a, b in zip(resumed, straight))
    with pytest.raises(ValueError, match="differentiable"):
        accel.Adam(nn.Linear(2, 2).parameters(), differentiable=True)


def test_eager_adam_never_imports_dynamo():
    """The reason for ganedit.accel.Adam: torch.optim's wrappers import torch._dynamo (1.5 s of
    every process). In a fresh interpreter, building, stepping, zeroing and (re)storing ours must
    not; a torch upgrade that changes how the wrappers work fails here."""
    import subprocess
    import sys

    code = ("import sys, torch\nfrom ganedit.accel import Adam\n"
            "p = torch.nn.Parameter(torch.ones(3))\nopt = Adam([p], lr=0.1, fused=True)\n"
            "p.sum().backward(); opt.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())\n"
            "print('torch._dynamo' in sys.modules, float(p[0]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and abs(float(out[1]) - 0.9) < 1e-6  # the first Adam step: lr * sign(grad)
