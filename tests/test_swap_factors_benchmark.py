"""The swap benchmark's pair selection and structure measure (benchmarks/swap_factors.py)."""

import importlib.util

import pytest
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
    assert set(check) == {"auc_swap", "auc_other", "p_real_B", "p_real_swap", "p_real_A"}
    assert all(0 < check[k] < 1 for k in ("p_real_B", "p_real_swap", "p_real_A"))
    assert abs(check["p_real_B"] - expected_b) < 1e-6
    assert len({round(check[k], 6) for k in ("p_real_B", "p_real_swap", "p_real_A")}) == 3  # three query sets
    assert 0 <= check["auc_swap"] <= 1 and 0 <= check["auc_other"] <= 1
    model.patch_discriminator = None
    save_swapae(tmp_path / "no_patch.safetensors", model)
    assert sf.critic_check(tmp_path / "no_patch.safetensors", enc, gen, data) is None


def test_auc_ranks_positives_above_negatives():
    sf = _module()
    assert sf.auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert sf.auc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 0.0
    assert sf.auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5  # ties count half
    assert sf.auc(torch.tensor([0.0, 2.0]), torch.tensor([1.0])) == 0.5


def test_global_family_pairs_need_no_filtering_and_carry_a_leak_probe():
    sf = _module()
    data = sf.make_pairs(4, 32, 2, ("flat", "gradient", "waves"), "kind", palette="global")
    assert data["candidates"] == 4 and not data["filtered"]
    ds = ProceduralDataset(32, 1, seed=2, patterns=("flat", "gradient", "waves"), shape_labels="kind",
                           palette="global")
    for i in range(4):
        (sa, ta), (sb, tb) = ds.factors(2 * i), ds.factors(2 * i + 1)
        assert torch.equal(data["truth"][i], ds.render(sa, tb))
    # A_other: A's layout with another texture, so the structure leak of a model can be measured
    assert (data["A_other"] - data["A"]).abs().mean() > 0.05
    flat = sf.make_pairs(4, 32, 2, ("flat",), "kind", palette="global")
    assert abs(sf.layout_misfit(flat["A_other"], flat["layout"]) - sf.layout_misfit(flat["A"], flat["layout"])) < 0.05
    rows = sf.baseline_scores(data)
    assert rows["truth"]["palette_transfer"] == 1.0 and abs(rows["A"]["palette_transfer"]) < 1e-6
    assert rows["A"]["structure_leak"] > 0.05 and rows["B"]["structure_leak"] == rows["truth"]["structure_leak"] == 0
    # another family for B: the truth is drawn by B's renderer with A's layout
    cross = sf.make_pairs(4, 32, 2, ("flat", "gradient", "waves"), "kind", palette="global", texture_palette="shared")
    shared = ProceduralDataset(32, 1, seed=2, patterns=("flat", "gradient", "waves"), shape_labels="kind",
                               palette="shared")
    assert torch.equal(cross["A"], data["A"])
    assert torch.equal(cross["truth"][0], shared.render(ds.factors(0)[0], ds.factors(1)[1]))


def test_structure_leak_is_zero_for_a_colour_blind_model_and_large_for_the_identity():
    sf = _module()
    data = sf.make_pairs(4, 32, 2, ("flat", "gradient"), "kind", palette="global")

    class Blind(torch.nn.Module):  # structure: the layout (a constant here), whatever the colours
        def forward(self, x):
            return data["layout"][: x.shape[0], None].float(), x.mean((2, 3))

    class Paint(torch.nn.Module):  # paints the texture (a vector or a spatial map) over the image
        def forward(self, structure, texture, noise_mode="const"):
            if texture.ndim == 2:
                texture = texture[:, :, None, None]
            return torch.nn.functional.interpolate(texture, size=structure.shape[-2:]) + 0 * structure

    blind = sf.evaluate(Blind(), Paint(), data)
    assert blind["swap"]["structure_leak"] < 1e-6

    class Identity(torch.nn.Module):  # structure: the image itself
        def forward(self, x):
            return x, x.mean((2, 3))

    class Copy(torch.nn.Module):  # outputs the structure code: every colour comes from A
        def forward(self, structure, texture, noise_mode="const"):
            return structure

    leaky = sf.evaluate(Identity(), Copy(), data)
    assert leaky["swap"]["structure_leak"] == pytest.approx(float((data["A"] - data["A_other"]).abs().mean()), abs=1e-5)
