"""SwapAE training (task ``swapae_train``): loss pieces, a short CPU run, export, exact resume."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import ganedit
from ganedit.io.checkpoint import load_native, safe_torch_load
from ganedit.testing import repo_root, torch_threads
from ganedit.training import read_train_log
from ganedit_swapae.testing import TINY_OPTIONS

from ganedit_swapae.losses import gan_loss, r1_image, swap_pairs
from ganedit_swapae.train import default_patch_size

#: 32 px, tiny widths: a few tenths of a second per step on one CPU core.
TINY_MODEL = dict(TINY_OPTIONS)

G_LOSSES = {"G_L1", "G_GAN_rec", "G_GAN_mix", "G_mix"}
D_LOSSES = {"D_real", "D_rec", "D_mix", "PatchD_real", "PatchD_mix", "D_R1"}


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def tiny_config(steps: int, **over) -> dict:
    cfg = {
        "task": "swapae_train", "seed": 3, "device": "cpu",
        "dataset": {"type": "procedural", "params": {"resolution": 32, "length": 24}},
        "model": dict(TINY_MODEL),
        "steps": steps, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 2,
        "r1_every": 2, "grid_images": 2,
    }
    cfg.update(over)
    return cfg


def test_swap_pairs_exchanges_neighbours_not_a_roll():
    x = torch.arange(6.0).view(6, 1)
    assert swap_pairs(x).flatten().tolist() == [1, 0, 3, 2, 5, 4]
    assert torch.equal(swap_pairs(swap_pairs(x)), x)
    with pytest.raises(ValueError, match="even batch"):
        swap_pairs(torch.zeros(3, 2))


def test_gan_loss_is_softplus_mean_per_sample():
    pred = torch.tensor([[0.0], [2.0]])
    assert gan_loss(pred, True).item() == pytest.approx((math.log(2) + math.log1p(math.exp(-2))) / 2)
    assert gan_loss(pred, False).item() == pytest.approx((math.log(2) + math.log1p(math.exp(2))) / 2)


def test_r1_image_matches_closed_form_for_a_linear_critic():
    torch.manual_seed(0)
    lin = nn.Linear(12, 1)
    d = nn.Sequential(nn.Flatten(), lin)
    x = torch.randn(5, 3, 2, 2)
    penalty = r1_image(d, x, gamma=10.0)
    # grad_x D = w for every image: 0.5 * gamma * ||w||^2
    assert penalty.item() == pytest.approx(0.5 * 10.0 * lin.weight.pow(2).sum().item(), rel=1e-6)
    penalty.backward()
    assert lin.bias.grad is not None  # kept in the graph (DDP needs every parameter)


def test_default_patch_size_is_official_at_256_and_half_side_below():
    assert default_patch_size(256) == 128 and default_patch_size(512) == 128
    assert default_patch_size(64) == 32 and default_patch_size(32) == 16 and default_patch_size(16) == 8


def test_batch_must_be_even_for_swap_pairs():
    from ganedit.config import ConfigError

    with pytest.raises(ConfigError, match="even"):
        ganedit.run(tiny_config(1, batch_size=3), output="/nonexistent/never")


def test_short_run_finite_losses_export_and_exact_resume(tmp_path: Path):
    full = tmp_path / "full"
    summary = ganedit.run(tiny_config(6), output=full, quiet=True)
    log = read_train_log(full)
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5, 6]
    last = log[-1]
    assert G_LOSSES | D_LOSSES <= set(last)
    assert all(math.isfinite(v) for e in log for k, v in e.items())
    # Alternating schedule: odd log steps are D steps (the D losses change), even ones G steps.
    assert log[0]["D_real"] != log[2]["D_real"] and log[1]["G_L1"] != log[3]["G_L1"]
    assert log[1]["D_real"] == log[0]["D_real"]

    ckpt = safe_torch_load(full / "checkpoints" / "last.pt")
    assert ckpt["step"] == 6 and ckpt["extra"]["d_steps"] == 3 and ckpt["extra"]["g_steps"] == 3
    assert (full / "images" / "swap_grid").is_dir()

    # The exported model loads through the public component API and equals the trained networks.
    model_path = Path(summary["model"])
    assert model_path == full / "swapae.safetensors" and model_path.is_file()
    enc = ganedit.build("encoder", {"type": "swapae", "params": {"checkpoint": str(model_path)}})
    gen = ganedit.build("generator", {"type": "swapae", "params": {"checkpoint": str(model_path)}})
    for name, module in (("encoder", enc), ("generator", gen)):
        for k, v in module.state_dict().items():
            assert torch.equal(v, ckpt["modules"][name][k]), (name, k)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        latent = enc.encode(x)
        assert latent.structure.shape == (2, 4, 8, 8) and latent.texture.shape == (2, 32)
        assert gen.generate(latent).shape == (2, 3, 32, 32)

    # scripts/bundle_swapae.py exports a training checkpoint as the trainer's own export does.
    spec = importlib.util.spec_from_file_location("bundle_swapae", repo_root() / "scripts" / "bundle_swapae.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    bundle.export_training_checkpoint(full / "checkpoints" / "last.pt", tmp_path / "from_last.safetensors")
    exported, trained = load_native(tmp_path / "from_last.safetensors")[0], load_native(model_path)[0]
    assert exported.keys() == trained.keys() and all(torch.equal(exported[k], trained[k]) for k in trained)
    # ... and averages several files weight by weight (floats only), refusing other architectures.
    tripled = {k: v * 3 if v.is_floating_point() else v for k, v in trained.items()}
    mean = bundle.average([(trained, {}), (tripled, {})])
    assert all(torch.allclose(mean[k], trained[k] * 2) for k in trained if trained[k].is_floating_point())
    with pytest.raises(SystemExit, match="different architectures"):
        bundle.average([(trained, {}), (dict(list(trained.items())[1:]), {})])

    # Interrupted after 4 steps, then resumed: the next losses equal the uninterrupted run's.
    part = tmp_path / "part"
    ganedit.run(tiny_config(4), output=part, quiet=True)
    resumed = ganedit.run(tiny_config(6), output=part, quiet=True)
    assert resumed["start_step"] == 4 and resumed["resumed_from"]
    log_b = read_train_log(part)
    assert [e["step"] for e in log_b] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(log[4:], log_b[4:]):
        assert a == b
    end_a = safe_torch_load(full / "checkpoints" / "last.pt")["modules"]
    end_b = safe_torch_load(part / "checkpoints" / "last.pt")["modules"]
    for net in end_a:
        for k in end_a[net]:
            assert torch.equal(end_a[net][k], end_b[net][k]), (net, k)


def test_fine_tuning_from_a_checkpoint_with_ema_export(tmp_path: Path):
    from ganedit_swapae.checkpoint import load_swapae, new_model, save_swapae

    torch.manual_seed(0)
    init = tmp_path / "init.safetensors"
    save_swapae(init, new_model(dict(TINY_MODEL, resolution=32), parts=("encoder", "generator")))
    out = tmp_path / "ft"
    summary = ganedit.run(tiny_config(2, model={}, init_checkpoint=str(init), ema_decay=0.5, export_discriminators=False),
                          output=out, quiet=True)
    start = load_swapae(init, parts=("generator",)).generator.state_dict()
    trained = safe_torch_load(out / "checkpoints" / "last.pt")["modules"]["generator"]
    exported = load_swapae(summary["model"], parts=("encoder", "generator", "discriminator"), require=False)
    assert exported.discriminator is None
    # Step 1 is a D step (G untouched), step 2 a G step; the export is the EMA: half way.
    name = "HeadResnetBlock0.conv1.conv.weight"
    assert not torch.equal(trained[name], start[name])
    assert torch.allclose(exported.generator.state_dict()[name], 0.5 * start[name] + 0.5 * trained[name], atol=1e-6)
