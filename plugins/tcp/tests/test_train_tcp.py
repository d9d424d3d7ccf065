"""TCP training (task ``tcp_train``): L_CC and L_CA decrease, exact resume, cross-domain batches."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import ganedit
from ganedit.io.checkpoint import safe_torch_load
from ganedit.testing import torch_threads
from ganedit.training import read_train_log

from ganedit_swapae.testing import TINY_OPTIONS
from ganedit_tcp.checkpoint import load_tcp, new_tcp_model, save_tcp
from ganedit_tcp.data import CrossDomainDataset
from ganedit_tcp.losses import consistency_metrics
from ganedit_tcp.masks import random_masks

TINY = dict(TINY_OPTIONS)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def base_config(steps: int, **over) -> dict:
    cfg = {
        "task": "tcp_train", "seed": 1, "device": "cpu",
        "dataset": {"type": "procedural", "params": {"resolution": 32, "length": 64}},
        "steps": steps, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 2,
        "r1_every": 4, "grid_images": 2,
    }
    cfg.update(over)
    return cfg


def test_fine_tuning_decreases_code_consistency_and_content_alignment(tmp_path: Path):
    torch.manual_seed(0)
    init = tmp_path / "init.safetensors"
    save_tcp(init, new_tcp_model(dict(TINY, resolution=32)))

    from ganedit.data import ProceduralDataset

    ds = ProceduralDataset(32, 16, seed=5)  # held-out images (the training set uses seed 0)
    content = torch.stack([ds[i] for i in range(4)])
    style = torch.stack([ds[i] for i in range(4, 8)])
    mask = random_masks(4, (32, 32), generator=torch.Generator().manual_seed(0))

    def metrics(path: Path) -> dict[str, float]:
        m = load_tcp(path, parts=("encoder", "generator"))
        return consistency_metrics(m.encoder, m.generator, content, style, mask)

    before = metrics(init)
    summary = ganedit.run(base_config(10, model={}, init_checkpoint=str(init)), output=tmp_path / "run", quiet=True)
    after = metrics(Path(summary["model"]))
    assert after["cc"] < 0.7 * before["cc"], (before, after)
    assert after["ca"] < 0.95 * before["ca"], (before, after)
    log = read_train_log(tmp_path / "run")
    assert {"G_CC", "G_CA", "G_L1", "G_mix", "D_real", "PatchD_mix", "D_R1"} <= set(log[-1])
    assert all(math.isfinite(v) for e in log for v in e.values())


def test_cross_domain_items_pair_the_domains():
    domains = [ganedit.build("dataset", {"type": "procedural", "params": {"resolution": 16, "length": n, "seed": s}})
               for n, s in ((5, 1), (3, 2))]
    ds = CrossDomainDataset(domains, seed=0)
    assert len(ds) == 5 and ds.images_per_item == 2
    item = ds[2]
    assert item.shape == (2, 3, 16, 16)
    assert torch.equal(item[0], domains[0][ds.index(2, 0)]) and torch.equal(item[1], domains[1][ds.index(2, 1)])
    assert {ds.index(i, 1) for i in range(5)} == {0, 1, 2}


def test_cross_domain_training_resumes_exactly(tmp_path: Path):
    dataset = {"type": "cross_domain", "params": {"domains": [
        {"type": "procedural", "params": {"resolution": 32, "length": 16, "seed": 1}},
        {"type": "procedural", "params": {"resolution": 32, "length": 16, "seed": 2}}]}}
    over = dict(model=dict(TINY, content_head_kernel=3), dataset=dataset, mask_types=["rect", "stroke", "cluster"],
                mask_feather=0.03, lambda_gan_hybrid=0.5, cc_start_step=2)
    full = tmp_path / "full"
    ganedit.run(base_config(6, **over), output=full, quiet=True)
    log = read_train_log(full)
    assert "G_CC" not in log[1] and "G_CC" in log[3]  # warm-up: TCP terms from step index 2 on
    part = tmp_path / "part"
    ganedit.run(base_config(4, **over), output=part, quiet=True)
    resumed = ganedit.run(base_config(6, **over), output=part, quiet=True)
    assert resumed["start_step"] == 4
    assert read_train_log(part)[4:] == log[4:]
    a = safe_torch_load(full / "checkpoints" / "last.pt")["modules"]
    b = safe_torch_load(part / "checkpoints" / "last.pt")["modules"]
    for net in a:
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    enc = ganedit.build("encoder", {"type": "tcp", "params": {"checkpoint": str(part / "tcp.safetensors")}})
    assert enc.head.kernel == 3
