"""The ``stylegan2_train`` task on CPU: tiny 16 px networks, a few steps.

Checks finite losses and written artefacts, bit-exact resume (N steps straight vs N/2 + resume +
N/2), the final native checkpoint loading through the ``stylegan2`` generator component, the NaN
stop, config validation, and a 2-process gloo DDP run under torchrun.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import ganedit
from ganedit.config import ConfigError, validate_config
from ganedit.io.checkpoint import load_native, safe_torch_load
from ganedit.testing import torch_threads
from ganedit.training import NonFiniteLossError, read_train_log

TINY = {
    "task": "stylegan2_train",
    "seed": 0,
    "device": "cpu",
    "dataset": {"type": "procedural", "params": {"resolution": 16, "length": 32, "supersample": 1}},
    "steps": 6,
    "batch_size": 4,
    "style_dim": 16,
    "n_mlp": 2,
    "channels": {4: 16, 8: 16, 16: 8},
    "n_sample": 4,
    "log_every": 1,
    "sample_every": 3,
    "checkpoint_every": 3,
    "d_reg_every": 2,   # so that R1 and path length both run (and are resumed) within a few steps
    "g_reg_every": 3,
}


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def run(out: Path, **over) -> dict:
    return ganedit.run({**TINY, **over}, output=out, quiet=True)


def test_losses_finite_resume_exact_and_final_checkpoint_loads(tmp_path):
    summary = run(tmp_path / "straight")
    straight = read_train_log(tmp_path / "straight")
    assert [e["step"] for e in straight] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(v) for e in straight for v in e.values())
    # Lazy regularizers ran on their schedule (iterations 0, 2, 4 for R1; 0, 3 for path length).
    assert [e["step"] for e in straight if "r1" in e] == [1, 3, 5]
    assert [e["step"] for e in straight if "path" in e] == [1, 4]
    assert summary["steps"] == 6 and summary["images_seen"] == 24
    metrics = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert metrics["summary"]["final_losses"]["d"] == straight[-1]["d"]
    assert (tmp_path / "straight" / "images" / "fixed_z" / "step-0000006.png").is_file()
    ckpt = safe_torch_load(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 6 and set(ckpt["modules"]) == {"g", "d"} and set(ckpt["ema"]) == {"g_ema"}
    assert ckpt["extra"]["mean_path_length"] > 0

    run(tmp_path / "split", steps=3)
    assert safe_torch_load(tmp_path / "split" / "checkpoints" / "last.pt")["step"] == 3
    resumed = run(tmp_path / "split")
    assert resumed["start_step"] == 3
    split = read_train_log(tmp_path / "split")
    assert split[3:] == straight[3:]           # the resumed steps, bit for bit
    assert split == straight

    final = Path(summary["final_checkpoint"])
    a, cfg = load_native(final, expect={"type": "stylegan2"})
    b, _ = load_native(tmp_path / "split" / final.name)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert {k.split(".")[0] for k in a} == {"g_ema", "g", "d"}

    # The stylegan2 generator component loads it and reproduces the trained EMA generator.
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(final)}})
    assert G.img_resolution == 16 and G.w_dim == 16 and G.discriminator() is not None
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    img = G.synthesis(G.mapping(z), noise_mode="const")
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    ema_state = ckpt["ema"]["g_ema"]
    for k, v in ema_state.items():
        if k != "w_avg":
            assert torch.equal(G.net.state_dict()[k], v), k
    assert G.w_avg.abs().sum() > 0  # truncation centre estimated at export


def test_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    import ganedit_stylegan2.train as train_mod

    calls = {"n": 0}
    real_loss = train_mod.g_nonsaturating_loss

    def flaky(pred):
        calls["n"] += 1
        out = real_loss(pred)
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(train_mod, "g_nonsaturating_loss", flaky)
    with pytest.raises(NonFiniteLossError, match=r"step 3/6: loss g = nan.*last good checkpoint .*last\.pt \(step 2\)"):
        run(tmp_path, checkpoint_every=2)
    assert safe_torch_load(tmp_path / "checkpoints" / "last.pt")["step"] == 2
    assert not (tmp_path / "stylegan2.safetensors").exists()


def test_auto_precision_bf16_where_fast_with_fp32_regularisers(tmp_path, monkeypatch):
    """``precision: auto`` is bf16 where bf16 convolutions measure fast (losses finite and close to
    fp32's, R1 and path length computed from float32 outputs) and fp32 where they do not (the same
    numbers as an explicit fp32 run)."""
    import ganedit.accel as accel
    import ganedit_stylegan2.train as train_mod

    run(tmp_path / "fp32", precision="fp32", steps=4)
    ref = read_train_log(tmp_path / "fp32")

    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 0.55)  # e.g. the Intel Xeon of benchmarks.md
    run(tmp_path / "slow", steps=4)
    assert read_train_log(tmp_path / "slow") == ref

    seen: dict[str, list[torch.dtype]] = {"r1": [], "path": []}
    r1, path = train_mod.r1_penalty, train_mod.path_length_penalty
    monkeypatch.setattr(train_mod, "r1_penalty", lambda pred, x: seen["r1"].append(pred.dtype) or r1(pred, x))
    monkeypatch.setattr(train_mod, "path_length_penalty",
                        lambda fake, lat, mean: seen["path"].append(fake.dtype) or path(fake, lat, mean))
    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 2.0)  # e.g. the AMD EPYC
    run(tmp_path / "fast", steps=4)
    got = read_train_log(tmp_path / "fast")
    assert [e["step"] for e in got] == [1, 2, 3, 4]
    for ea, eb in zip(ref, got):
        for k, v in eb.items():
            assert math.isfinite(v), (k, v)
            assert v == pytest.approx(ea[k], rel=0.1, abs=0.1), (eb["step"], k, v, ea[k])
    assert any(eb[k] != ea[k] for ea, eb in zip(ref, got) for k in eb if k != "step")  # bf16 took effect
    assert seen["r1"] and seen["path"] and set(seen["r1"] + seen["path"]) == {torch.float32}


def test_auto_precision_is_kept_when_a_run_is_resumed_on_another_machine(tmp_path, monkeypatch):
    """``auto`` picks by timing the machine; a run resumed elsewhere keeps the precision it trained
    in (exactly the uninterrupted run's numbers), and an explicit setting still overrides it."""
    import ganedit.accel as accel

    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 2.0)  # a machine where auto picks bf16
    run(tmp_path / "straight", steps=4, sample_every=0)
    run(tmp_path / "split", steps=2, sample_every=0)
    assert safe_torch_load(tmp_path / "split" / "checkpoints" / "last.pt")["precision"] == "bf16"
    monkeypatch.setattr(accel, "bf16_speedup", lambda device: 0.55)  # resumed where auto picks fp32
    run(tmp_path / "split", steps=4, sample_every=0)
    assert read_train_log(tmp_path / "split") == read_train_log(tmp_path / "straight")
    assert safe_torch_load(tmp_path / "split" / "checkpoints" / "last.pt")["precision"] == "bf16"
    run(tmp_path / "split", steps=5, sample_every=0, precision="fp32")  # explicit: fp32 from here on
    assert safe_torch_load(tmp_path / "split" / "checkpoints" / "last.pt")["precision"] == "fp32"


def test_convert_exports_any_training_snapshot(tmp_path):
    """``ganedit convert`` on a ``stylegan2_train`` snapshot writes the native file the run writes at
    its end (so an interrupted run, or any step, becomes a model); other ``.pt`` files get a clear error."""
    from ganedit.io.checkpoint import CheckpointError
    from ganedit_stylegan2.checkpoints import load_checkpoint
    from ganedit_stylegan2.train import convert_train_checkpoint, sniff_train_checkpoint

    summary = run(tmp_path / "run", steps=2, checkpoint_every=1, sample_every=0)
    snapshot = tmp_path / "run" / "checkpoints" / "last.pt"
    fmt = ganedit.load_registry().sniff(snapshot)
    assert fmt is not None and fmt.name == "stylegan2_train"
    fmt.convert(snapshot, tmp_path / "converted.safetensors")
    exported, converted = load_checkpoint(summary["final_checkpoint"]), load_checkpoint(tmp_path / "converted.safetensors")
    for role in ("g_ema", "g", "d"):
        want, got = getattr(exported, role).state_dict(), getattr(converted, role).state_dict()
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want), role
    assert converted.metadata["steps"] == 2 and converted.metadata["converted_from"] == "last.pt"
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert not sniff_train_checkpoint(other)
    with pytest.raises(CheckpointError, match="not a ganedit training checkpoint"):
        convert_train_checkpoint(other, tmp_path / "x.safetensors")


def test_init_checkpoint_continues_from_a_trained_model(tmp_path):
    """``init_checkpoint``: g, g_ema and d from the file (g from g_ema when the file has none, as in
    the bundled models); a file of another architecture is refused with the reason."""
    from ganedit_stylegan2.checkpoints import load_checkpoint
    from ganedit_stylegan2.native import save_stylegan2_native

    first = run(tmp_path / "a", steps=3, checkpoint_every=0, sample_every=0)
    trained = load_checkpoint(first["final_checkpoint"])
    ema_only = tmp_path / "ema_only.safetensors"  # what the bundled files hold: g_ema and d
    save_stylegan2_native(ema_only, g_ema=trained.g_ema, d=trained.d)
    assert not torch.equal(trained.g.conv1.conv.weight, trained.g_ema.conv1.conv.weight)
    for name, init, g_source in (("full", first["final_checkpoint"], trained.g), ("ema", ema_only, trained.g_ema)):
        # A learning rate of 1e-9 and an EMA decay of 1 - 1e-7 keep the weights where they started, so
        # they show what was loaded.
        run(tmp_path / name, steps=1, checkpoint_every=1, sample_every=0, lr=1e-9, ema_decay=1 - 1e-7,
            init_checkpoint=str(init))
        ckpt = safe_torch_load(tmp_path / name / "checkpoints" / "last.pt")
        for got, want in ((ckpt["modules"]["g"], g_source), (ckpt["ema"]["g_ema"], trained.g_ema),
                          (ckpt["modules"]["d"], trained.d)):
            state = want.state_dict()
            for k, v in got.items():
                if k != "w_avg":
                    assert torch.allclose(v, state[k], atol=1e-5), (name, k)
    with pytest.raises(ValueError, match="init_checkpoint .* generator architecture .* differs"):
        run(tmp_path / "c", steps=1, style_dim=8, init_checkpoint=str(ema_only))


def test_config_validation_errors():
    with pytest.raises(ConfigError, match="batch_size 6 must be divisible"):
        validate_config({**TINY, "batch_size": 6})
    bad = {**TINY, "dataset": {"type": "procedural", "params": {"resolution": 24}}}
    with pytest.raises(ConfigError, match="dataset.params.resolution.*power-of-two"):
        validate_config(bad)
    with pytest.raises(ConfigError, match="channels.*misses resolutions"):
        validate_config({**TINY, "channels": {4: 16, 8: 16}})
    cfg = validate_config(TINY)
    assert cfg.params.r1 == 10.0 and cfg.params.resume is True


def test_shipped_config_validates():
    from ganedit.config import load_config

    path = Path(__file__).resolve().parents[3] / "configs" / "stylegan2_train.yaml"
    cfg = load_config(path)
    assert cfg.task == "stylegan2_train" and cfg.params.dataset.params.resolution == 64


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    cfg = {**TINY, "steps": 2, "checkpoint_every": 0, "sample_every": 0, "d_reg_every": 1, "g_reg_every": 1}
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "ganedit", "run", str(path), "--output", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["world_size"] == 2 and summary["images_seen"] == 2 * 4 * 2
    log = read_train_log(out)
    assert [e["step"] for e in log] == [1, 2] and all("r1" in e and "path" in e for e in log)
    ckpt = safe_torch_load(out / "checkpoints" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    # The exported generator is the DDP-trained one and loads like any other.
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(out / "stylegan2.safetensors")}})
    assert G.img_resolution == 16
