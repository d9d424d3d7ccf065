"""Editors after inversion: style mixing, directions, SeFa (tiny random StyleGAN2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ganedit
from ganedit.io.images import save_image
from ganedit.latent import Latent, LatentError
from ganedit.testing import ToyGenerator

from ganedit_inversion.editors import mix_styles, sefa_directions, style_affines
from ganedit_inversion.layers import resolve_layers


def editor(type_: str, **params):
    return ganedit.build("editor", {"type": type_, "params": params})


@pytest.fixture(scope="module")
def latent(generator) -> Latent:
    # a W+ code: per-layer distinct codes, as inversion produces
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        ws = generator.mapping(torch.randn(generator.num_ws, generator.z_dim, generator=g), 1.0, None)[:, 0]
    return Latent.wplus(ws[None])


def render(generator, latent):
    with torch.no_grad():
        return generator.synthesis(latent.ws, noise_mode="const")


class StubContext:
    """A context whose invert_images returns fixed latents (what the invert task supplies)."""

    def __init__(self, latent):
        self.latent = latent
        self.calls = []

    def invert_images(self, paths):
        self.calls.append(list(paths))
        return Latent.cat([self.latent] * len(paths))


def test_layer_groups():
    # 64 px generator: 10 ws; StyleGAN groups by resolution
    assert resolve_layers("coarse", 10) == [0, 1, 2, 3]
    assert resolve_layers("middle", 10) == [4, 5, 6, 7]
    assert resolve_layers("fine", 10) == [8, 9]
    assert resolve_layers([0, -1], 10) == [0, 9]
    with pytest.raises(ValueError, match="'fine' is empty.*num_ws=6"):
        resolve_layers("fine", 6)
    with pytest.raises(ValueError, match="out of range"):
        resolve_layers([12], 10)


def test_style_mixing_with_identical_latent_is_identity(generator, latent, tmp_path):
    src = tmp_path / "other.png"
    save_image(src, torch.zeros(3, 16, 16))
    ed = editor("style_mixing", sources=[str(src)], layers=["coarse", "middle", [0, 5], "all"])
    context = StubContext(latent)
    edits = ed.edit(generator, latent, context)
    base = render(generator, latent)
    assert [e.label for e in edits] == ["mix_other_coarse", "mix_other_middle", "mix_other_L0-5", "mix_other_all"]
    assert all(torch.equal(e.images, base) for e in edits)
    assert context.calls == [[src]]
    assert torch.equal(mix_styles(latent.ws, latent.ws, [0, 1]), latent.ws)


def test_style_mixing_changes_only_chosen_layers(generator, latent):
    ed = editor("style_mixing", seeds=[7], layers=["coarse", "fine"])  # 16 px: no fine layers -> skipped
    edits = ed.edit(generator, latent)
    assert [e.label for e in edits] == ["mix_seed7_coarse"]
    assert (edits[0].images - render(generator, latent)).abs().mean() > 1e-3
    other = torch.randn(1, generator.num_ws, generator.w_dim)
    mixed = mix_styles(latent.ws, other, [0, 1, 2, 3])
    assert torch.equal(mixed[:, :4], other[:, :4]) and torch.equal(mixed[:, 4:], latent.ws[:, 4:])


def test_style_mixing_sources_need_the_invert_context(generator, latent, tmp_path):
    src = tmp_path / "a.png"
    save_image(src, torch.zeros(3, 16, 16))
    with pytest.raises(RuntimeError, match="invert_images"):
        editor("style_mixing", sources=[str(src)]).edit(generator, latent, context=object())
    with pytest.raises(ganedit.config.ConfigError, match="at least one style source"):
        editor("style_mixing")


def test_direction_editor_files_and_strengths(generator, latent, tmp_path):
    d = torch.randn(generator.w_dim, generator=torch.Generator().manual_seed(1))
    np.save(tmp_path / "smile.npy", d.numpy())
    torch.save({"direction": d}, tmp_path / "smile.pt")
    base = render(generator, latent)
    outs = []
    for name in ("smile.npy", "smile.pt"):
        edits = editor("direction", path=str(tmp_path / name), strengths=[0.0, 2.0]).edit(generator, latent)
        assert [e.label for e in edits] == ["smile_+0", "smile_+2"]
        assert torch.equal(edits[0].images, base)  # strength 0 is the identity
        assert (edits[1].images - base).abs().mean() > 1e-3
        outs.append(edits[1].images)
    assert torch.equal(outs[0], outs[1])
    # per-layer direction on the coarse layers only equals adding it to those layers by hand
    ed = editor("direction", path=str(tmp_path / "smile.npy"), strengths=[1.5], layers="coarse")
    by_hand = latent.ws.clone()
    by_hand[:, :4] += 1.5 * d
    assert torch.allclose(ed.edit(generator, latent)[0].images, render(generator, Latent.wplus(by_hand)))


def test_direction_of_wrong_shape_is_refused(generator, latent, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(LatentError, match=r"bad.npy: direction has shape \(3, 5\), expected \[32\]"):
        editor("direction", path=str(tmp_path / "bad.npy")).edit(generator, latent)
    (tmp_path / "evil.pt").write_bytes(b"not a torch file")
    with pytest.raises(Exception, match="evil.pt"):
        editor("direction", path=str(tmp_path / "evil.pt"))


def test_sefa_directions_are_orthonormal_eigenvectors(generator):
    layers = list(range(generator.num_ws))
    values, dirs = sefa_directions(generator, layers, num=8)
    assert torch.allclose(dirs @ dirs.T, torch.eye(8), atol=1e-5)
    assert (values[:-1] >= values[1:]).all()
    # the top direction maximises ||A d|| over unit d: it is A's top right-singular vector
    a = torch.cat([w for i, name, w in style_affines(generator) if "rgb" not in name])
    a = a / a.norm(dim=1, keepdim=True)
    v_top = torch.linalg.svd(a.double()).Vh[0].float()
    assert abs(float(v_top @ dirs[0])) > 0.999
    assert float(values[0]) == pytest.approx(float(torch.linalg.svdvals(a.double())[0] ** 2), rel=1e-4)


def test_sefa_finds_affines_of_every_styled_layer(generator):
    found = style_affines(generator)
    # 16 px: conv1 + 4 convs (one per ws index except the last) + 2 ToRGB, each mapped to its ws index
    convs = [(i, n) for i, n, _ in found if "rgb" not in n]
    assert [i for i, _ in convs] == [0, 1, 2, 3, 4]
    assert sorted(i for i, n, _ in found if "rgb" in n) == [1, 3, 5]
    with pytest.raises(RuntimeError, match="no style-affine"):
        style_affines(ToyGenerator())


def test_sefa_editor_changes_image(generator, latent):
    edits = editor("sefa", num_directions=2, strengths=[-2.0, 0.0, 2.0], layers="coarse").edit(generator, latent)
    base = render(generator, latent)
    assert [e.label for e in edits] == ["sefa0_-2", "sefa0_+0", "sefa0_+2", "sefa1_-2", "sefa1_+0", "sefa1_+2"]
    assert torch.equal(edits[1].images, base)
    assert (edits[0].images - base).abs().mean() > 1e-3 and (edits[2].images - base).abs().mean() > 1e-3


def test_editors_refuse_latents_of_the_wrong_space_or_shape(generator):
    ed = editor("sefa")
    with pytest.raises(LatentError, match=r"expects \[B, 6, 32\]"):
        ed.edit(generator, Latent.wplus(torch.zeros(1, 4, 32)))
    bad = Latent.structure_texture(torch.zeros(1, 2, 4, 4), torch.zeros(1, 8))
    with pytest.raises(LatentError, match="'structure_texture'"):
        ed.edit(generator, bad)


def test_works_on_stylealae_generator():
    """The same inverters/editors run on StyleALAE's generator (same mapping/synthesis API, no noise maps)."""
    pytest.importorskip("ganedit_stylealae")
    G = ganedit.build("generator", {"type": "stylealae", "params": {
        "resolution": 16, "latent_size": 32, "start_channels": 16, "max_channels": 32, "mapping_layers": 2}})
    names = [n for _, n, _ in style_affines(G)]
    assert len(names) == G.num_ws  # AdaIN style affines, one per code
    _, dirs = sefa_directions(G, list(range(G.num_ws)), num=3)
    assert torch.allclose(dirs @ dirs.T, torch.eye(3), atol=1e-5)
    target = torch.rand(1, 3, 16, 16) * 2 - 1
    inv = ganedit.build("inverter", {"type": "near_perfect", "params": {
        "steps": 3, "adversarial_weight": 0.0, "global_adversarial": 0.0, "seed": 0,
        "initial": {"type": "optimization", "params": {"steps": 3, "w_avg_samples": 100, "seed": 0}}}})
    result = inv.invert(G, target)
    assert result.tuned and result.metrics["steps"] == 3
    edits = editor("sefa", num_directions=1, strengths=[2.0]).edit(result.generator, result.latent)
    assert (edits[0].images - render(result.generator, result.latent)).abs().mean() > 1e-4
