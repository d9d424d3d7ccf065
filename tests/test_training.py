"""Generic training machinery (ganedit.training): EMA, lazy Adam, data stream, exact resume,
NaN stop, graceful SIGINT stop, and a 2-process gloo DDP run under torchrun.

A toy GAN (linear G and D on 4x4 images) exercises everything a real trainer uses: two modules,
two optimizers, an EMA copy, a lazy R1 step, torch/numpy/Python randomness and extra state.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganedit.config import RunConfig
from ganedit.io.checkpoint import CheckpointError, safe_torch_load
from ganedit.runner import RunContext
from ganedit.training import (
    DataStream,
    NonFiniteLossError,
    TrainParams,
    Trainer,
    TrainingInterrupted,
    accumulate,
    make_adam,
    read_train_log,
    requires_grad,
)


class ToyImages(torch.utils.data.Dataset):
    """37 deterministic 3x4x4 'images' (37 is prime, so batches straddle epoch boundaries)."""

    def __init__(self, length: int = 37):
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(1000 + i)
        return torch.tanh(torch.randn(3, 4, 4, generator=g) + 0.5)


class ToyParams(TrainParams):
    hidden: int = 16
    lr: float = 0.01
    nan_at: int = -1          # inject NaN into the D loss at this iteration
    signal_at: int = -1       # send SIGINT to ourselves during this iteration


class ToyTrainer(Trainer):
    name = "toy"

    def build(self) -> None:
        p = self.params
        g = nn.Sequential(nn.Linear(8, p.hidden), nn.LeakyReLU(0.2), nn.Linear(p.hidden, 48), nn.Tanh())
        d = nn.Sequential(nn.Linear(48, p.hidden), nn.LeakyReLU(0.2), nn.Linear(p.hidden, 1))
        g.register_buffer("calls", torch.zeros(()))
        self.G = self.add_module("g", g)
        self.D = self.add_module("d", d)
        self.add_ema("g_ema", "g", decay=0.9)
        self.add_optimizer("g", make_adam(g.parameters(), p.lr))
        self.add_optimizer("d", make_adam(d.parameters(), p.lr, reg_every=2))
        self.set_data(ToyImages())
        self.running = torch.zeros(())
        self.first_batch_sum: float | None = None

    def train_step(self, step: int, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.first_batch_sum is None:
            self.first_batch_sum = float(batch.sum())
        real = batch.flatten(1)
        n = real.shape[0]
        # Python and numpy randomness too, so the test sees their states restored on resume.
        scale = 1.0 + 0.1 * random.random() + 0.1 * float(np.random.rand())
        z = torch.randn(n, 8, device=real.device) * scale
        requires_grad(self.modules["g"], False)
        requires_grad(self.modules["d"], True)
        fake = self.G(z)
        d_loss = F.softplus(self.D(fake)).mean() + F.softplus(-self.D(real)).mean()
        if step == self.params.nan_at:
            d_loss = d_loss * float("nan")
        if step == self.params.signal_at:
            os.kill(os.getpid(), signal.SIGINT)
        self.optimize("d", d_loss)
        losses = {"d": d_loss}
        if self.due(step, 2):
            real_r = real.detach().requires_grad_(True)
            pred = self.D(real_r)
            (grad,) = torch.autograd.grad(pred.sum(), real_r, create_graph=True)
            r1 = grad.pow(2).sum(1).mean()
            # 0 * pred: the gradient of R1 never reaches D's last bias; DDP needs every parameter.
            self.optimize("d", 5.0 * r1 * 2 + 0 * pred[0, 0])
            losses["r1"] = r1
        requires_grad(self.modules["g"], True)
        requires_grad(self.modules["d"], False)
        g_loss = F.softplus(-self.D(self.G(torch.randn(n, 8, device=real.device)))).mean()
        self.optimize("g", g_loss)
        self.modules["g"].calls += 1
        self.running = 0.9 * self.running + 0.1 * g_loss.detach()
        losses["g"] = g_loss
        return losses

    def sample_images(self) -> dict[str, torch.Tensor]:
        z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
        return {"fixed_z": self.ema_modules["g_ema"](z).reshape(4, 3, 4, 4)}

    def extra_state(self) -> dict:
        return {"running": self.running}

    def load_extra_state(self, state: dict) -> None:
        self.running = state["running"]


def make_context(out: Path, seed: int = 0) -> RunContext:
    cfg = RunConfig(task="toy", seed=seed)
    return RunContext(cfg, out, torch.device("cpu"), registry=None, quiet=True)


def train(out: Path, **kw) -> tuple[ToyTrainer, dict]:
    base = dict(steps=6, batch_size=8, log_every=1, sample_every=3, checkpoint_every=3)
    base.update(kw)
    ctx = make_context(out)
    trainer = ToyTrainer(ToyParams(**base), ctx)
    try:
        summary = trainer.fit()
    finally:
        ctx.close()
    return trainer, summary


# --------------------------------------------------------------------------- helpers


def test_accumulate_lerps_parameters_and_copies_buffers():
    model = nn.BatchNorm1d(3)
    ema = nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(2.0)
        ema.weight.fill_(1.0)
        model.running_mean.fill_(5.0)
    accumulate(ema, model, 0.75)
    assert torch.allclose(ema.weight, torch.full((3,), 0.75 * 1.0 + 0.25 * 2.0))
    assert torch.equal(ema.running_mean, model.running_mean)
    assert not torch.equal(ema.weight, model.weight)


def test_make_adam_applies_lazy_regularization_correction():
    p = [nn.Parameter(torch.zeros(2))]
    opt = make_adam(p, lr=0.002, betas=(0.0, 0.99), reg_every=16)
    c = 16 / 17
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.002 * c)
    assert group["betas"][0] == 0.0
    assert group["betas"][1] == pytest.approx(0.99**c)
    assert group["betas"][1] == pytest.approx(0.99059, abs=1e-5)  # the value StyleGAN2 quotes
    plain = make_adam(p, lr=0.002, reg_every=0).param_groups[0]
    assert plain["lr"] == 0.002 and plain["betas"] == (0.0, 0.99)


def test_data_stream_is_deterministic_resumable_and_sharded():
    ds = ToyImages(37)
    a = DataStream(ds, 8, seed=3)
    first = [next(a) for _ in range(7)]            # 56 samples: crosses the epoch boundary
    state = a.state_dict()
    assert state["epoch"] == 1 and state["offset"] == 56 - 37
    nxt = [next(a) for _ in range(3)]
    b = DataStream(ds, 8, seed=3)
    b.load_state_dict(state)
    for x, y in zip(nxt, [next(b) for _ in range(3)]):
        assert torch.equal(x, y)
    c = DataStream(ds, 8, seed=3)
    assert torch.equal(first[0], next(c))
    assert not torch.equal(first[0], next(DataStream(ds, 8, seed=4)))
    # Every epoch visits each sample exactly once per process shard; shards partition the data.
    order = a.epoch_indices(0)
    assert sorted(order) == list(range(37))
    r0 = DataStream(ds, 8, seed=3, rank=0, world_size=2).epoch_indices(0)
    r1 = DataStream(ds, 8, seed=3, rank=1, world_size=2).epoch_indices(0)
    assert len(r0) == len(r1) == 19 and set(r0) | set(r1) == set(range(37))


def test_data_stream_with_workers_matches_in_process_loading():
    ds = ToyImages(37)
    ref = DataStream(ds, 8, seed=1)
    ref_batches = [next(ref) for _ in range(6)]
    w = DataStream(ds, 8, seed=1, num_workers=1)
    got = [next(w) for _ in range(3)]
    state = w.state_dict()
    w.close()
    w2 = DataStream(ds, 8, seed=1, num_workers=1)
    w2.load_state_dict(state)
    got += [next(w2) for _ in range(3)]
    w2.close()
    for x, y in zip(ref_batches, got):
        assert torch.equal(x, y)


# --------------------------------------------------------------------------- training loop


def test_exact_resume_reproduces_uninterrupted_losses(tmp_path):
    _, summary = train(tmp_path / "straight")
    straight = read_train_log(tmp_path / "straight")
    assert [e["step"] for e in straight] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(v) for e in straight for v in e.values())
    assert summary["steps"] == 6 and summary["images_per_sec"] > 0
    assert summary["final_losses"]["g"] == straight[-1]["g"]

    train(tmp_path / "split", steps=3)
    resumed, summary2 = train(tmp_path / "split", steps=6)
    assert summary2["start_step"] == 3 and summary2["resumed_from"].endswith("last.pt")
    split = read_train_log(tmp_path / "split")
    assert [e["step"] for e in split] == [1, 2, 3, 4, 5, 6]
    assert split == straight  # bit-for-bit: floats round-trip exactly through JSON

    a = safe_torch_load(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = safe_torch_load(tmp_path / "split" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 6
    for group in ("modules", "ema"):
        for name in a[group]:
            for k, v in a[group][name].items():
                assert torch.equal(v, b[group][name][k]), (group, name, k)
    assert torch.equal(a["extra"]["running"], b["extra"]["running"])
    # Image grids and TensorBoard events were written by the main process.
    assert (tmp_path / "straight" / "images" / "fixed_z" / "step-0000006.png").is_file()
    assert any((tmp_path / "straight" / "tb").iterdir())


def test_resume_false_starts_over_and_bad_path_is_clear(tmp_path):
    train(tmp_path / "r", steps=2)
    _, summary = train(tmp_path / "r", steps=2, resume=False)
    assert summary["start_step"] == 0 and summary["resumed_from"] is None
    with pytest.raises(CheckpointError, match="resume checkpoint not found"):
        train(tmp_path / "x", steps=2, resume=str(tmp_path / "missing.pt"))


def test_resume_with_other_architecture_names_file_and_module(tmp_path):
    train(tmp_path / "r", steps=2)
    with pytest.raises(CheckpointError, match=r"last\.pt: module 'g' does not match"):
        train(tmp_path / "r", steps=4, hidden=12)


def test_resume_reports_changed_settings(tmp_path, capsys):
    train(tmp_path, steps=2, sample_every=0)
    ctx = RunContext(RunConfig(task="toy", seed=0), tmp_path, torch.device("cpu"), registry=None, quiet=False)
    params = ToyParams(steps=3, batch_size=8, log_every=1, sample_every=0, nan_at=99)
    ToyTrainer(params, ctx).fit()
    ctx.close()
    err = capsys.readouterr().err
    assert "resumed from" in err and "at step 2" in err
    assert "resuming with changed settings: nan_at" in err


def test_resume_with_a_changed_lr_uses_the_new_rate(tmp_path):
    first, _ = train(tmp_path, steps=2, sample_every=0)
    old_d = first.optimizers["d"].param_groups[0]["lr"]
    resumed, summary = train(tmp_path, steps=3, sample_every=0, lr=0.005)
    assert summary["start_step"] == 2
    assert resumed.optimizers["g"].param_groups[0]["lr"] == 0.005
    # The lazy-regularisation correction of D's rate is applied to the new rate, not the old one.
    assert resumed.optimizers["d"].param_groups[0]["lr"] == pytest.approx(old_d / 2)
    assert resumed.optimizers["g"].state  # the Adam moments did come from the checkpoint


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError) as info:
        train(tmp_path, steps=8, checkpoint_every=2, nan_at=4)
    msg = str(info.value)
    assert "step 5/8" in msg and "loss d = nan" in msg and "step 4)" in msg
    ckpt = safe_torch_load(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["step"] == 4
    for state in ckpt["modules"].values():
        assert all(torch.isfinite(v).all() for v in state.values())
    assert not list((tmp_path / "checkpoints").glob(".last.pt*"))  # no temp file left behind


def test_sigint_finishes_step_saves_and_resume_is_exact(tmp_path):
    train(tmp_path / "straight", checkpoint_every=0, sample_every=0)
    with pytest.raises(TrainingInterrupted) as info:
        train(tmp_path / "stopped", checkpoint_every=0, sample_every=0, signal_at=1)
    assert "step 2/6" in str(info.value)
    assert signal.getsignal(signal.SIGINT) is not None  # handler restored
    ckpt = safe_torch_load(tmp_path / "stopped" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 2
    metrics = json.loads((tmp_path / "stopped" / "metrics.json").read_text())
    assert metrics["summary"]["interrupted"] is True
    train(tmp_path / "stopped", checkpoint_every=0, sample_every=0)
    assert read_train_log(tmp_path / "stopped") == read_train_log(tmp_path / "straight")


def test_snapshots_are_kept_every_n_steps(tmp_path):
    train(tmp_path, steps=4, checkpoint_every=1, snapshot_every=2, sample_every=0)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["last.pt", "step-0000002.pt", "step-0000004.pt"]
    assert safe_torch_load(tmp_path / "checkpoints" / "step-0000002.pt")["step"] == 2


# --------------------------------------------------------------------------- DDP


DDP_SCRIPT = """
import importlib.util, json, os, sys
from pathlib import Path
import torch
spec = importlib.util.spec_from_file_location("toy_training_test", {test_file!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
out = Path({out!r})
ctx = mod.make_context(out)
trainer = mod.ToyTrainer(mod.ToyParams(steps=3, batch_size=4, log_every=1, sample_every=3,
                                       checkpoint_every=2), ctx)
summary = trainer.fit()
ctx.close()
rank = int(os.environ["RANK"])
torch.save({{"params": {{k: v for k, v in trainer.modules["g"].state_dict().items()}},
             "d": {{k: v for k, v in trainer.modules["d"].state_dict().items()}},
             "first_batch_sum": trainer.first_batch_sum, "world": summary["world_size"]}},
           out / f"rank{{rank}}.pt")
"""


def test_ddp_two_processes_gloo_keep_parameters_identical(tmp_path):
    script = tmp_path / "ddp_toy.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format(test_file=str(Path(__file__).resolve()),
                                                        out=str(tmp_path / "run"))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script)],
                          capture_output=True, text=True, timeout=170, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    r0 = torch.load(tmp_path / "run" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "run" / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    # Different data shards, yet identical parameters after averaged-gradient steps.
    assert r0["first_batch_sum"] != r1["first_batch_sum"]
    for group in ("params", "d"):
        for k in r0[group]:
            assert torch.equal(r0[group][k], r1[group][k]), (group, k)
    ckpt = safe_torch_load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 3 and ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    for k, v in ckpt["modules"]["g"].items():
        assert torch.equal(v, r0["params"][k])
    log = read_train_log(tmp_path / "run")
    assert [e["step"] for e in log] == [1, 2, 3]  # written once (rank 0 only)
