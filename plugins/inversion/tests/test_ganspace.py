"""GANSpace component edits (GANSpace .npz, e4e ganspace_pca .pt) and direction-file checks against
the generator (tiny random StyleGAN2: w_dim 32, num_ws 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ganedit
from ganedit.io.checkpoint import CheckpointError
from ganedit.latent import Latent, LatentError


def editor(type_: str, **params):
    return ganedit.build("editor", {"type": type_, "params": params})


def pca_of(generator, n: int = 2000, components: int = 5):
    """Principal directions of mapped w, as GANSpace's --use_w decomposition computes them."""
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = generator.mapping(z, 1.0, None)[:, 0].double()
    mean = w.mean(0)
    _, _, v = torch.linalg.svd(w - mean, full_matrices=False)
    comp = v[:components]
    std = ((w - mean) @ comp.T).std(0)
    return comp.float(), mean.float(), std.float()


@pytest.fixture(scope="module")
def pca_files(generator, tmp_path_factory):
    comp, mean, std = pca_of(generator)
    folder = tmp_path_factory.mktemp("ganspace")
    npz = folder / "stylegan2-tiny_style_ipca_c5_n2000_w.npz"
    np.savez_compressed(npz, lat_comp=comp[:, None].numpy(), lat_mean=mean[None].numpy(),
                        lat_stdev=std.numpy(), act_comp=comp[:, None].numpy(), act_mean=mean[None].numpy(),
                        act_stdev=std.numpy(), var_ratio=np.ones(5, np.float32), random_stdevs=np.ones(5, np.float32))
    pt = folder / "tiny_pca.pt"  # e4e's editings/ganspace_pca layout
    torch.save({"mean": mean[None], "comp": comp[:, None], "std": std}, pt)
    return {"npz": npz, "pt": pt, "comp": comp, "mean": mean, "std": std}


@pytest.fixture(scope="module")
def latent(generator) -> Latent:
    z = torch.randn(generator.num_ws, generator.z_dim, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        return Latent.wplus(generator.mapping(z, 1.0, None)[:, 0][None])


@torch.no_grad()
@pytest.mark.parametrize("kind", ["npz", "pt"])
def test_offset_edit_is_sigma_times_stdev_on_the_chosen_layers(generator, latent, pca_files, kind):
    ed = editor("ganspace", path=str(pca_files[kind]),
                edits=[{"component": 1, "layers": [0, 1, 2], "sigmas": [-2.0, 3.0], "label": "pose"},
                       {"component": 0, "sigmas": [1.0]}])
    edits = ed.edit(generator, latent)
    assert [e.label for e in edits] == ["pose_-2", "pose_+3", "ganspace0_+1"]
    ws = latent.ws
    edited = ed.apply(ws, 1, [0, 1, 2], 3.0)
    delta = edited - ws
    expected = 3.0 * pca_files["std"][1] * pca_files["comp"][1]
    assert torch.allclose(delta[0, :3], expected.expand(3, -1), atol=1e-6)
    assert torch.equal(delta[0, 3:], torch.zeros_like(delta[0, 3:]))
    assert torch.equal(edits[1].images, generator.synthesis(edited, noise_mode="const"))


@torch.no_grad()
def test_set_mode_puts_the_coordinate_at_sigma(generator, latent, pca_files):
    """GANSpace's centred strips / e4e: the coordinate along the component becomes sigma stds from
    the mean; the orthogonal part of w is untouched."""
    ed = editor("ganspace", path=str(pca_files["pt"]), mode="set", edits=[{"component": 2, "sigmas": [1.5]}])
    comp, mean, std = pca_files["comp"][2], pca_files["mean"], pca_files["std"][2]
    out = ed.apply(latent.ws, 2, list(range(6)), 1.5)
    coord = (out[0] - mean) @ comp
    assert torch.allclose(coord, torch.full((6,), 1.5 * float(std)), atol=1e-4)
    ortho = lambda w: (w - mean) - ((w - mean) @ comp)[:, None] * comp  # noqa: E731
    assert torch.allclose(ortho(out[0]), ortho(latent.ws[0]), atol=1e-5)


def test_components_of_another_generator_are_refused_before_inverting(generator, pca_files, tmp_path):
    np.savez(tmp_path / "big.npz", lat_comp=np.ones((4, 1, 512), np.float32) / 22.6,
             lat_mean=np.zeros((1, 512), np.float32), lat_stdev=np.full(4, 2.0, np.float32))
    ed = editor("ganspace", path=str(tmp_path / "big.npz"), edits=[{"component": 0}])
    with pytest.raises(LatentError, match="components have dimension 512, the generator's w_dim is 32"):
        ed.check_generator(generator)
    with pytest.raises(ValueError, match="layer index 9 is out of range for num_ws=6"):
        editor("ganspace", path=str(pca_files["npz"]), edits=[{"component": 0, "layers": [9]}]).check_generator(generator)


@pytest.mark.parametrize("arrays, message", [
    ({"lat_comp": np.ones((3, 1, 32)), "lat_mean": np.zeros((1, 32)), "lat_stdev": np.ones(3)},
     "lat_stdev is 1 for every component.*--use_w"),
    ({"lat_comp": np.ones((3, 1, 32)), "lat_mean": np.zeros((1, 32))}, "no lat_stdev / std entry"),
    ({"lat_comp": np.ones((3, 2, 32)), "lat_mean": np.zeros((1, 32)), "lat_stdev": np.full(3, 2.0)},
     r"components have shape \(3, 2, 32\)"),
    ({"lat_comp": np.ones((3, 1, 32)), "lat_mean": np.zeros((1, 31)), "lat_stdev": np.full(3, 2.0)},
     "inconsistent shapes"),
    ({"lat_comp": np.full((3, 1, 32), np.nan), "lat_mean": np.zeros((1, 32)), "lat_stdev": np.full(3, 2.0)},
     "tensor 'components' holds 96 non-finite"),
])
def test_bad_ganspace_files(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v.astype(np.float32) for k, v in arrays.items()})
    with pytest.raises(CheckpointError, match=message):
        editor("ganspace", path=str(path))


def test_component_index_and_suffix(pca_files, tmp_path):
    with pytest.raises(CheckpointError, match="component 7 does not exist \\(the file holds 5\\)"):
        editor("ganspace", path=str(pca_files["npz"]), edits=[{"component": 7}])
    (tmp_path / "x.json").write_text("{}")
    from ganedit.config import ConfigError

    with pytest.raises(ConfigError, match="must be one of .npz, .pt, .pth"):
        editor("ganspace", path=str(tmp_path / "x.json"))


@pytest.mark.parametrize("shape, ok", [((1, 32), True), ((32,), True), ((1, 6, 32), True), ((6, 32), True),
                                       ((1, 512), False), ((1, 18, 32), False)])
def test_direction_files_checked_against_generator(generator, tmp_path, shape, ok):
    """InterFaceGAN boundaries [1, w_dim], plain W [w_dim] and per-layer [1, num_ws, w_dim] (e4e's
    pose.pt) fit; another model's shapes are refused before inversion."""
    torch.save(torch.ones(shape), tmp_path / "d.pt")
    ed = editor("direction", path=str(tmp_path / "d.pt"))
    if ok:
        ed.check_generator(generator)
    else:
        with pytest.raises(LatentError, match=r"direction has shape .* for this generator"):
            ed.check_generator(generator)


def test_invert_task_checks_editors_before_any_image(tiny_checkpoint, make_target, tmp_path):
    from ganedit.io.images import save_image

    save_image(tmp_path / "in" / "a.png", make_target(1)[0])
    np.save(tmp_path / "boundary.npy", np.zeros((1, 512), np.float32))  # an FFHQ InterFaceGAN boundary
    cfg = {"task": "invert", "device": "cpu",
           "generator": {"type": "stylegan2", "params": {"checkpoint": str(tiny_checkpoint)}},
           "inverter": {"type": "optimization", "params": {"steps": 2, "w_avg_samples": 100}},
           "editors": [{"type": "direction", "params": {"path": str(tmp_path / "boundary.npy")}}],
           "inputs": str(tmp_path / "in")}
    with pytest.raises(LatentError, match=r"boundary.npy: direction has shape \(1, 512\), expected \[32\]"):
        ganedit.run(cfg, output=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "inversions").exists()
