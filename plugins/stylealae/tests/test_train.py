"""The ``alae_train`` task on CPU: tiny 8-16 px networks, a few iterations.

Checks the LOD schedule (lod / blend / batch size / learning rate per iteration), that training
lowers the latent reciprocity error on a fixed batch of z, finite losses, bit-exact resume across
a fade-in and an LOD switch, which networks each optimizer moves, the export loading through the
``stylealae`` components, config validation, and a 2-process gloo run whose ranks stay identical.
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
from ganedit.config import ConfigError, load_config, validate_config
from ganedit.io.checkpoint import safe_torch_load
from ganedit.testing import torch_threads
from ganedit.training import read_train_log

from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.model import ALAEModel
from ganedit_stylealae.train import LODSchedule, make_schedule, reciprocity_error

REPO = Path(__file__).resolve().parents[3]

TINY_NET = {"latent_size": 16, "start_channels": 8, "max_channels": 16, "mapping_layers": 2}


def tiny(res: int = 16, **over) -> dict:
    cfg = {
        "task": "alae_train", "seed": 0, "device": "cpu",
        "dataset": {"type": "procedural", "params": {"resolution": res, "length": 32, "supersample": 1}},
        **TINY_NET,
        "steps": 8, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 2,
        "grid_images": 2, "n_sample": 2,
    }
    cfg.update(over)
    return cfg


#: 16 px, LODs 0-2: LOD 0 = iterations 0-1 (batch 4), LOD 1 = 2-5 and LOD 2 from 6 (batch 2),
#: fade-in over the first 6 images (3 iterations) of LODs 1 and 2.
PROGRESSIVE = {"images_per_lod": 8, "transition_images": 6, "batch_sizes": [4, 2]}


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def _cos_ramp(t: float) -> float:
    # The official lod_driver formula, written as it is there.
    return math.sin(t * math.pi - 0.5 * math.pi) * 0.5 + 0.5


def test_lod_schedule_transitions():
    s = LODSchedule(final_lod=2, images_per_lod=16, transition_images=12, batch_sizes=(8, 4),
                    learning_rates=(0.001, 0.002))
    # LOD 0: 16 images / 8 = iterations 0-1; LOD 1: 16 / 4 = iterations 2-5; LOD 2 from 6 on.
    assert [s.at(i).lod for i in range(9)] == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert s.at(1000).lod == 2 and s.lod_start(2) == 6
    blends = [s.at(i).blend for i in range(10)]
    expected = [1, 1, 0, _cos_ramp(4 / 12), _cos_ramp(8 / 12), 1, 0, _cos_ramp(4 / 12), _cos_ramp(8 / 12), 1]
    assert blends == pytest.approx(expected, abs=1e-12)
    assert blends[3] == pytest.approx(0.25) and blends[4] == pytest.approx(0.75)
    assert [s.at(i).batch_size for i in (0, 1, 2, 6, 500)] == [8, 8, 4, 4, 4]
    assert [s.at(i).lr for i in (0, 2, 6)] == [0.001, 0.002, 0.002]
    assert s.images_before(0) == 0 and s.images_before(2) == 16 and s.images_before(6) == 32
    assert s.images_before(9) == 44
    # Images are counted over all processes: two processes halve the iterations per LOD.
    s2 = LODSchedule(final_lod=2, images_per_lod=16, transition_images=8, batch_sizes=(8, 4),
                     learning_rates=(0.001,), world_size=2)
    assert [s2.at(i).lod for i in range(5)] == [0, 1, 1, 2, 2]
    assert [s2.at(i).blend for i in range(5)] == [1, 0, 1, 0, 1]
    # Fixed resolution: the final LOD from the start, never a fade-in.
    f = LODSchedule(final_lod=2, images_per_lod=None, transition_images=8, batch_sizes=(8, 4),
                    learning_rates=(0.001, 0.002, 0.003))
    assert {(f.at(i).lod, f.at(i).blend, f.at(i).batch_size, f.at(i).lr) for i in range(5)} == {(2, 1.0, 4, 0.003)}
    assert f.images_before(5) == 20


def _param_slots(arch: ALAEArch) -> dict[str, dict[str, int]]:
    """Optimizer state index of every parameter name, per optimizer (param-group order)."""
    m = ALAEModel(arch)
    groups = {"encoder": ("encoder", "mapping_d"), "decoder": ("decoder", "mapping_f")}
    out = {}
    for opt, parts in groups.items():
        names = [f"{part}.{n}" for part in parts for n, _ in getattr(m, part).named_parameters()]
        out[opt] = {n: i for i, n in enumerate(names)}
    return out


def _adam_steps(ckpt: dict, slots: dict[str, dict[str, int]], opt: str, prefix: str) -> set[int]:
    state = ckpt["optimizers"][opt]["state"]
    return {int(state[i]["step"]) if i in state else 0 for n, i in slots[opt].items() if n.startswith(prefix)}


def test_progressive_run_resume_exact_and_export(tmp_path: Path):
    cfg = tiny(16, **PROGRESSIVE)
    summary = ganedit.run(cfg, output=tmp_path / "straight", quiet=True)
    log = read_train_log(tmp_path / "straight")
    assert [e["step"] for e in log] == list(range(1, 9))
    assert all(math.isfinite(v) for e in log for v in e.values())
    assert {"d", "g", "reciprocity", "r1", "d_real", "d_fake", "lod", "blend"} <= set(log[0])
    # The loop follows the schedule, fade-ins included (entry n is iteration n - 1).
    assert [e["lod"] for e in log] == [0, 0, 1, 1, 1, 1, 2, 2]
    assert [e["blend"] for e in log] == pytest.approx([1, 1, 0, 0.25, 0.75, 1, 0, 0.25])
    assert summary["images_seen"] == 2 * 4 + 6 * 2 and summary["lod"] == 2

    # Interrupted mid-fade-in after 4 iterations, resumed: same losses, bit for bit, across the
    # LOD switch at iteration 6 (new batch size, Adam state reset), and the same final weights.
    ganedit.run({**cfg, "steps": 4}, output=tmp_path / "split", quiet=True)
    resumed = ganedit.run(cfg, output=tmp_path / "split", quiet=True)
    assert resumed["start_step"] == 4 and resumed["resumed_from"]
    assert read_train_log(tmp_path / "split") == log
    a = safe_torch_load(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = safe_torch_load(tmp_path / "split" / "checkpoints" / "last.pt")
    for group in ("modules", "ema"):
        for net in a[group]:
            for k, v in a[group][net].items():
                assert torch.equal(v, b[group][net][k]), (group, net, k)
    assert a["data"] == b["data"]

    # Which networks each optimizer moved since the LOD switch at iteration 6 (2 iterations):
    # E twice per iteration (steps 1, 3), D twice (step 1, and step 3's official zero-gradient
    # step), G and F twice (steps 2, 3). ToRGB of LOD 0 is no longer used: no state after the reset.
    arch = ALAEArch.from_resolution(16, **TINY_NET)
    slots = _param_slots(arch)
    assert _adam_steps(a, slots, "encoder", "encoder.encode_block") == {4}
    assert _adam_steps(a, slots, "encoder", "mapping_d.") == {4}
    assert _adam_steps(a, slots, "decoder", "decoder.decode_block") == {4}
    assert _adam_steps(a, slots, "decoder", "mapping_f.") == {4}
    assert _adam_steps(a, slots, "decoder", "decoder.to_rgb.0.") == {0}
    assert _adam_steps(a, slots, "decoder", "decoder.to_rgb.1.") == {4}  # fading out, still used
    assert _adam_steps(a, slots, "encoder", "encoder.from_rgb.2.") == {0}

    # The export loads through the components: EMA by default, the live networks on request.
    path = Path(summary["final_checkpoint"])
    assert path == tmp_path / "straight" / "stylealae.safetensors"
    ema, live = a["ema"]["model_s"], a["modules"]["model"]
    enc = ganedit.build("encoder", {"type": "stylealae", "params": {"checkpoint": str(path)}})
    gen = ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(path)}})
    gen_live = ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(path), "which": "live"}})
    for k, v in enc.encoder.state_dict().items():
        assert torch.equal(v, ema[f"encoder.{k}"]), k
    for k, v in gen.decoder.state_dict().items():
        assert torch.equal(v, ema[f"decoder.{k}"]), k
        assert torch.equal(gen_live.decoder.state_dict()[k], live[f"decoder.{k}"]), k
    for k, v in gen.mapping_f.state_dict().items():
        assert torch.equal(v, ema[f"mapping_f.{k}"]), k
    assert not torch.equal(ema["decoder.const"], live["decoder.const"])  # the EMA lags behind
    # dlatent_avg: the live running mean of w (the official checkpoint keeps only that one).
    assert torch.equal(gen.dlatent_avg, live["dlatent_avg"]) and gen.dlatent_avg.abs().sum() > 0
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        latent = enc.encode(x)
        rec = gen.generate(latent, noise_mode="const")
    assert rec.shape == (2, 3, 16, 16) and torch.isfinite(rec).all()

    run_dir = tmp_path / "straight"
    assert (run_dir / "images" / "reconstructions" / "step-0000008.png").is_file()
    assert (run_dir / "images" / "samples" / "step-0000008.png").is_file()
    assert any((run_dir / "tb").iterdir())


def test_training_lowers_the_reciprocity_error(tmp_path: Path):
    # Fixed 16 px; lr 0.003 so that 40 iterations suffice. With step 3 switched off the error
    # does not fall (ratios 0.8-1.2 over seeds 0-3); with it, 0.25-0.40.
    seed = 2
    cfg = tiny(16, seed=seed, schedule="fixed", steps=40, batch_size=8, learning_rates=[0.003], checkpoint_every=0)
    summary = ganedit.run(cfg, output=tmp_path, quiet=True)
    z = torch.randn(64, TINY_NET["latent_size"], generator=torch.Generator().manual_seed(123))
    before = reciprocity_error(ALAEModel.random(ALAEArch.from_resolution(16, **TINY_NET), seed=seed), z)
    after = reciprocity_error(ALAEModel.from_checkpoint(summary["final_checkpoint"], which="live"), z)
    assert after < 0.6 * before, (before, after)
    assert all(math.isfinite(v) for e in read_train_log(tmp_path) for v in e.values())


def test_paper_variant_leaves_f_out_of_step_3(tmp_path: Path):
    summary = ganedit.run(tiny(8, schedule="fixed", steps=2, reciprocity_updates_mapping=False, checkpoint_every=0),
                          output=tmp_path, quiet=True)
    assert summary["steps"] == 2
    ckpt = safe_torch_load(tmp_path / "checkpoints" / "last.pt")
    slots = _param_slots(ALAEArch.from_resolution(8, **TINY_NET))
    assert _adam_steps(ckpt, slots, "decoder", "mapping_f.") == {2}       # step 2 only
    assert _adam_steps(ckpt, slots, "decoder", "decoder.decode_block") == {4}
    assert _adam_steps(ckpt, slots, "encoder", "encoder.encode_block") == {4}


def test_config_validation():
    with pytest.raises(ConfigError, match="transition_images 9 exceeds images_per_lod 8"):
        validate_config(tiny(16, images_per_lod=8, transition_images=9))
    with pytest.raises(ConfigError, match="dataset.params.resolution.*power-of-two"):
        validate_config(tiny(24))
    with pytest.raises(ConfigError, match="learning_rates"):
        validate_config(tiny(16, learning_rates=[]))
    with pytest.raises(ConfigError, match="batch_sizes"):
        validate_config(tiny(16, batch_sizes=[4, 0]))
    cfg = validate_config(tiny(16))
    assert cfg.params.r1_gamma == 10.0 and cfg.params.betas == (0.0, 0.99) and cfg.params.mixing == 0.9


def test_shipped_config_validates():
    cfg = load_config(REPO / "configs" / "alae_train.yaml")
    assert cfg.task == "alae_train" and cfg.params.dataset.params.resolution == 32
    s = make_schedule(cfg.params, 32)
    assert s.final_lod == 3 and s.lod_start(3) == 2000 < cfg.params.steps


_DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
import ganedit
import ganedit_stylealae.train as T
torch.set_num_threads(1)
inner = T.ALAETrainer.train_step
def checked(self, step, batch):
    out = inner(self, step, batch)
    sums = torch.stack([p.detach().double().sum() for p in self.model.parameters()]
                       + [self.model.dlatent_avg.double().sum()])
    seen = [torch.zeros_like(sums) for _ in range(self.dist.world_size)]
    dist.all_gather(seen, sums)
    assert all(torch.equal(s, seen[0]) for s in seen), f"processes diverged at iteration {step}"
    return out
T.ALAETrainer.train_step = checked
ganedit.run(sys.argv[1], output=sys.argv[2], quiet=True)
"""


@pytest.mark.slow
def test_ddp_two_processes_stay_in_sync(tmp_path: Path):
    cfg = tiny(16, steps=4, batch_size=2, images_per_lod=8, transition_images=4, checkpoint_every=0)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "check.py").write_text(_DDP_SCRIPT)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(tmp_path / "check.py"), str(tmp_path / "cfg.yaml"), str(out)],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["world_size"] == 2 and summary["steps"] == 4
    # Global batch 4: LOD 0 is 2 iterations, then LOD 1 fades in over one iteration.
    log = read_train_log(out)
    assert [e["lod"] for e in log] == [0, 0, 1, 1] and [e["blend"] for e in log] == [1, 1, 0, 1]
    assert all(math.isfinite(v) for e in log for v in e.values())
    assert (out / "stylealae.safetensors").is_file()


def test_init_checkpoint_starts_from_a_trained_model(tmp_path: Path):
    """``init_checkpoint``: live networks from the file's live set, EMA from its EMA set; a file of
    another architecture is refused with the reason."""
    first = ganedit.run(tiny(8, schedule="fixed", steps=3, checkpoint_every=0), output=tmp_path / "a", quiet=True)
    init = Path(first["final_checkpoint"])
    # A learning rate of 1e-9 keeps the weights where they started, so they show what was loaded.
    ganedit.run(tiny(8, schedule="fixed", steps=1, checkpoint_every=0, learning_rates=[1e-9],
                     init_checkpoint=str(init)), output=tmp_path / "b", quiet=True)
    ckpt = safe_torch_load(tmp_path / "b" / "checkpoints" / "last.pt")
    for group, name, which in (("modules", "model", "live"), ("ema", "model_s", "ema")):
        loaded = ALAEModel.from_checkpoint(init, which=which).state_dict()
        for k, v in ckpt[group][name].items():
            if k == "dlatent_avg":  # a running mean, moved by every generation
                continue
            assert torch.allclose(v, loaded[k], atol=1e-5), (which, k)
    live, ema = ALAEModel.from_checkpoint(init, which="live"), ALAEModel.from_checkpoint(init, which="ema")
    assert not torch.equal(live.decoder.const, ema.decoder.const)  # two different sets were loaded
    with pytest.raises(ValueError, match="init_checkpoint .* architecture .* differs"):
        ganedit.run(tiny(8, schedule="fixed", steps=1, latent_size=8, init_checkpoint=str(init)),
                    output=tmp_path / "c", quiet=True)


def test_pixel_reconstruction_term_lowers_the_real_image_error(tmp_path: Path):
    """``pixel_reconstruction`` (ours): the term is G(E(x))'s MSE on the reals, and with it training
    reconstructs the training images better than the official objective at equal iterations
    (8 px, 60 iterations: 0.21 vs 0.24-0.25 over seeds 0-1)."""
    from ganedit.data import ProceduralDataset
    from ganedit_stylealae.losses import pixel_reconstruction_loss

    data = {"type": "procedural", "params": {"resolution": 8, "length": 32, "supersample": 1}}
    x = torch.stack([ProceduralDataset(8, 32, seed=0, supersample=1)[i] for i in range(32)])
    errors = []
    for weight in (0.0, 100.0):
        summary = ganedit.run(tiny(8, schedule="fixed", steps=60, batch_size=8, learning_rates=[0.003],
                                   checkpoint_every=0, dataset=data, pixel_reconstruction=weight),
                              output=tmp_path / str(weight), quiet=True)
        model = ALAEModel.from_checkpoint(summary["final_checkpoint"], which="live")
        with torch.no_grad():
            rec = model.decoder(model.encoder(x)[:, None].repeat(1, model.arch.num_ws, 1), None, 1.0, "none")
            loss, logs = pixel_reconstruction_loss(model, x, noise_mode="none")
        assert float(loss) == pytest.approx(float((rec - x).pow(2).mean()), rel=1e-5) == logs["pixel"]
        errors.append(float(loss))
        assert ("pixel" in read_train_log(tmp_path / str(weight))[-1]) == (weight > 0)
    assert errors[1] < 0.92 * errors[0], errors


def test_convert_exports_any_training_snapshot(tmp_path: Path):
    """``ganedit convert`` on an ``alae_train`` snapshot writes the native file the run exports at its
    end (so a mid-run step can become the model); other ``.pt`` files get a clear error."""
    from ganedit.io.checkpoint import CheckpointError
    from ganedit_stylealae.checkpoint import sniff_official
    from ganedit_stylealae.train import convert_train_checkpoint, sniff_train_checkpoint

    summary = ganedit.run(tiny(8, schedule="fixed", steps=2, checkpoint_every=1), output=tmp_path / "run", quiet=True)
    snapshot = tmp_path / "run" / "checkpoints" / "last.pt"
    assert sniff_train_checkpoint(snapshot) and not sniff_official(snapshot)
    fmt = ganedit.load_registry().sniff(snapshot)
    assert fmt is not None and fmt.name == "alae_train"
    fmt.convert(snapshot, tmp_path / "converted.safetensors")
    for which in ("ema", "live"):
        exported = ALAEModel.from_checkpoint(summary["final_checkpoint"], which=which).state_dict()
        converted = ALAEModel.from_checkpoint(tmp_path / "converted.safetensors", which=which).state_dict()
        assert exported.keys() == converted.keys()
        assert all(torch.equal(exported[k], converted[k]) for k in exported), which
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert not sniff_train_checkpoint(other)
    with pytest.raises(CheckpointError, match="not a ganedit training checkpoint"):
        convert_train_checkpoint(other, tmp_path / "x.safetensors")
