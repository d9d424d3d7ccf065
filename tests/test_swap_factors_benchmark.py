"""The swap benchmark's pair selection and structure measure (benchmarks/swap_factors.py)."""

import importlib.util

import torch

from ganedit.data import ProceduralDataset
from ganedit.testing import repo_root


def _module():
    spec = importlib.util.spec_from_file_location("swap_factors", repo_root() / "benchmarks" / "swap_factors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pairs_are_well_posed_and_truths_are_factor_swaps():
    sf = _module()
    data = sf.make_pairs(6, 32, 3, ("flat", "gradient"), "kind")
    ds = ProceduralDataset(32, 1, seed=3, patterns=("flat", "gradient"), shape_labels="kind")
    assert data["A"].shape == data["truth"].shape == (6, 3, 32, 32) and data["candidates"] >= 6
    kept = 0
    for i in range(data["candidates"]):
        (sa, _), (sb, tb) = ds.factors(2 * i), ds.factors(2 * i + 1)
        if set(ds.labels(sa).unique().tolist()) <= set(ds.labels(sb).unique().tolist()):
            assert torch.equal(data["truth"][kept], ds.render(sa, tb))
            kept += 1
    assert kept == 6
    everything = sf.make_pairs(6, 32, 3, ("flat", "gradient"), "kind", well_posed=False)
    assert everything["candidates"] == 6
    assert data["filtered"] and not everything["filtered"]
    # with a shared palette every region of B shows its whole texture: no pair is filtered out
    shared = sf.make_pairs(6, 32, 3, ("flat", "gradient"), "kind", palette="shared")
    assert shared["candidates"] == 6 and not shared["filtered"]


def test_layout_misfit_sees_structure_not_colour():
    sf = _module()
    data = sf.make_pairs(8, 32, 1, ("flat",), "kind")
    truth = sf.layout_misfit(data["truth"], data["layout"])
    assert truth < 0.2  # flat regions: only anti-aliased edges are unexplained
    assert abs(sf.layout_misfit(data["A"], data["layout"]) - truth) < 0.1  # other colours, same layout
    assert sf.layout_misfit(data["B"], data["layout"]) > truth + 0.2  # other layout


def test_palette_transfer_measures_colour_not_layout():
    sf = _module()
    data = sf.make_pairs(4, 32, 2, ("flat",), "kind", palette="shared")
    assert abs(sf.palette_transfer(data["truth"], data) - 1) < 1e-6
    assert abs(sf.palette_transfer(data["A"], data)) < 1e-6
    half = 0.5 * (data["A"] + data["truth"])
    assert abs(sf.palette_transfer(half, data) - 0.5) < 1e-5


def test_critic_check_scores_crops_with_the_stored_patch_discriminator(tmp_path):
    from ganedit_swapae.checkpoint import new_model, save_swapae
    from ganedit_swapae.testing import TINY_OPTIONS

    sf = _module()
    data = sf.make_pairs(2, 32, 2, ("flat",), "kind", palette="shared")
    torch.manual_seed(0)
    model = new_model({**TINY_OPTIONS, "resolution": 32})
    save_swapae(tmp_path / "full.safetensors", model)
    enc, gen = model.encoder.eval(), model.generator.eval()
    with torch.no_grad():
        check = sf.critic_check(tmp_path / "full.safetensors", enc, gen, data, seed=5)
        # the stored patch D scores the crops: the same numbers as the in-memory one with the same crops
        dpatch, g = model.patch_discriminator.eval(), torch.Generator().manual_seed(5)
        ref = dpatch.sample_crops(data["B"], g)
        expected_b = float(torch.sigmoid(dpatch(ref, dpatch.sample_crops(data["B"], g))).mean())
    assert set(check) == {"B", "swap", "A"} and all(0 < v < 1 for v in check.values())
    assert abs(check["B"] - expected_b) < 1e-6
    assert len({round(v, 6) for v in check.values()}) == 3  # three different query sets
    model.patch_discriminator = None
    save_swapae(tmp_path / "no_patch.safetensors", model)
    assert sf.critic_check(tmp_path / "no_patch.safetensors", enc, gen, data) is None
