"""SwapAE editors on the tiny model, with a stand-in context that encodes image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganedit
from ganedit.io.images import load_image, save_image
from ganedit_swapae.editors import (EditorError, RegionTextureEditor, SwapEditor, TextureArithmeticEditor,
                                    TextureInterpolationEditor)

ATOL = 2e-5


class StandIn:
    """The editor context protocol: ``encode_images(paths) -> Latent`` (nothing else)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.calls = 0

    def encode_images(self, paths):
        self.calls += 1
        with torch.no_grad():
            return self.encoder.encode(torch.stack([load_image(p, 32) for p in paths]))


def smooth_image(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(1, 3, 4, 4, generator=g)
    return torch.tanh(torch.nn.functional.interpolate(low, size=(32, 32), mode="bicubic", align_corners=False))[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("editor_images")
    paths = []
    for i in range(3):
        p = d / f"img{i}.png"
        save_image(p, smooth_image(i))
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def setup(tiny, images):
    ctx = StandIn(tiny.encoder)
    a = ctx.encode_images(images[:2])  # the inputs A (batch 2)
    b = ctx.encode_images(images[2:])  # one texture reference B
    G = tiny.generator
    with torch.no_grad():
        rec = G.generate(a)
        swap_b = G.generate(ganedit.Latent.structure_texture(a.structure, b.texture.expand(2, -1)))
    assert (rec - swap_b).abs().mean() > 0.02  # A and B textures differ visibly
    return ctx, a, b, rec, swap_b


def write_mask(path: Path, value: int, half: str | None = None) -> Path:
    arr = np.full((32, 32), value, np.uint8)
    if half == "left":
        arr[:, 16:] = 0
    Image.fromarray(arr, mode="L").save(path)
    return path


def test_swap_with_itself_is_reconstruction(tiny, images, setup):
    ctx, a, _, rec, swap_b = setup
    ed = SwapEditor(SwapEditor.Params(texture_images=images))
    edits = ed.edit(tiny.generator, a, ctx)
    assert [e.label for e in edits] == ["swap_img0", "swap_img1", "swap_img2"]
    for j in range(2):  # texture of A_j applied to A_j = reconstruction of A_j
        assert (edits[j].images[j] - rec[j]).abs().max() < ATOL
    assert (edits[2].images - swap_b).abs().max() < ATOL
    assert (edits[0].images[1] - rec[1]).abs().mean() > 0.01  # A_1 with A_0's texture is a real swap


def test_interpolation_endpoints(tiny, images, setup):
    ctx, a, _, rec, swap_b = setup
    for mode in ("lerp", "slerp"):
        ed = TextureInterpolationEditor(TextureInterpolationEditor.Params(
            texture_images=[images[2]], strengths=[0, 0.5, 1, 1.5], mode=mode))
        out = {e.label: e.images for e in ed.edit(tiny.generator, a, ctx)}
        assert list(out) == ["interp_img2_0", "interp_img2_0.5", "interp_img2_1", "interp_img2_1.5"]
        assert (out["interp_img2_0"] - rec).abs().max() < ATOL
        # The official slerp shrinks the angle by 1e-4 (acos safety), so its endpoint is near, not at B.
        assert (out["interp_img2_1"] - swap_b).abs().max() < (ATOL if mode == "lerp" else 1e-3)
        mid, over = out["interp_img2_0.5"], out["interp_img2_1.5"]
        assert (mid - rec).abs().mean() > 0.005 and (mid - swap_b).abs().mean() > 0.005
        assert (over - swap_b).abs().mean() > 0.005


def test_region_texture(tiny, images, setup, tmp_path):
    ctx, a, _, rec, swap_b = setup
    G = tiny.generator
    zero = write_mask(tmp_path / "zero.png", 0)
    full = write_mask(tmp_path / "full.png", 255)
    left = write_mask(tmp_path / "left.png", 255, "left")

    def run(regions, **kw):
        ed = RegionTextureEditor(RegionTextureEditor.Params(regions=regions, **kw))
        (edit,) = ed.edit(G, a, ctx)
        return edit.images

    assert (run([{"mask": zero, "texture_image": images[2]}]) - rec).abs().max() < ATOL  # identity
    assert (run([{"shape": "empty", "texture_image": images[2]}], map_size=5) - rec).abs().max() < ATOL
    assert (run([{"mask": full, "texture_image": images[2]}]) - swap_b).abs().max() < ATOL
    assert (run([{"mask": zero, "texture_image": images[2], "invert": True}]) - swap_b).abs().max() < ATOL
    # Two regions covering everything with the same texture: overlap is renormalised, = full swap.
    both = run([{"mask": full, "texture_image": images[2]}, {"shape": "full", "texture_image": images[2]}])
    assert (both - swap_b).abs().max() < ATOL
    # Left-half mask: the left edge follows B's texture, the right edge keeps A's.
    half = run([{"mask": left, "texture_image": images[2]}])
    assert (half - swap_b)[..., :6].abs().mean() < 0.5 * (rec - swap_b)[..., :6].abs().mean()
    assert (half - rec)[..., 26:].abs().mean() < 0.5 * (rec - swap_b)[..., 26:].abs().mean()
    # Half strength sits between A and B.
    mid = run([{"mask": full, "texture_image": images[2], "strength": 0.5}])
    assert (mid - rec).abs().mean() > 0.005 and (mid - swap_b).abs().mean() > 0.005


def test_texture_arithmetic(tiny, images, setup, tmp_path):
    ctx, a, b, rec, swap_b = setup
    G = tiny.generator
    # d = t_B - t_A0 moves A0 exactly onto B's texture at strength 1 (the generator renormalises).
    d = (b.texture[0] - a.texture[0]).numpy()
    np.save(tmp_path / "dir.npy", d)
    torch.save({"direction": torch.from_numpy(d)}, tmp_path / "dir.pt")
    for f in ("dir.npy", "dir.pt"):
        ed = TextureArithmeticEditor(TextureArithmeticEditor.Params(direction_file=tmp_path / f,
                                                                    strengths=[0.0, 1.0]))
        out = {e.label: e.images for e in ed.edit(G, a, ctx)}
        assert list(out) == ["texture_arithmetic_+0", "texture_arithmetic_+1"]
        assert (out["texture_arithmetic_+0"] - rec).abs().max() < ATOL
        assert (out["texture_arithmetic_+1"][0] - swap_b[0]).abs().max() < ATOL
    # Inside a mask: an all-black mask is the identity, a full one the global edit.
    zero = write_mask(tmp_path / "zero.png", 0)
    masked = TextureArithmeticEditor(TextureArithmeticEditor.Params(direction_file=tmp_path / "dir.npy",
                                                                    mask=zero)).edit(G, a, ctx)[0].images
    assert (masked - rec).abs().max() < ATOL
    full = TextureArithmeticEditor(TextureArithmeticEditor.Params(direction_file=tmp_path / "dir.npy",
                                                                  shape="full")).edit(G, a, ctx)[0].images
    assert (full[0] - swap_b[0]).abs().max() < ATOL
    # Folders: mean(B) - mean(A0) again; identical folders give a zero direction.
    pos, neg = tmp_path / "pos", tmp_path / "neg"
    pos.mkdir(), neg.mkdir()
    (pos / "b.png").write_bytes(images[2].read_bytes())
    (neg / "a.png").write_bytes(images[0].read_bytes())
    ed = TextureArithmeticEditor(TextureArithmeticEditor.Params(positive=[pos], negative=[neg]))
    assert (ed.edit(G, a, ctx)[0].images[0] - swap_b[0]).abs().max() < ATOL
    same = TextureArithmeticEditor(TextureArithmeticEditor.Params(positive=[pos], negative=[pos]))
    assert (same.edit(G, a, ctx)[0].images - rec).abs().max() < ATOL


def test_editor_inputs_are_checked(tiny, setup, tmp_path):
    _, a, _, _, _ = setup
    reg = ganedit.load_registry()
    from ganedit.config import ConfigError

    with pytest.raises(ConfigError, match="exactly one of mask"):
        ganedit.build("editor", {"type": "region_texture", "params": {"regions": [{"texture_index": 0}]}}, registry=reg)
    with pytest.raises(ConfigError, match="file not found"):
        ganedit.build("editor", {"type": "swap", "params": {"texture_images": [str(tmp_path / "missing.png")]}}, registry=reg)
    with pytest.raises(ConfigError, match="either positive and negative images or direction_file"):
        ganedit.build("editor", {"type": "texture_arithmetic", "params": {}}, registry=reg)
    ed = ganedit.build("editor", {"type": "swap", "params": {}}, registry=reg)
    assert ed.supported_spaces() == ("structure_texture",)
    with pytest.raises(EditorError, match="give texture_images"):
        ed.edit(tiny.generator, a, object())
    with pytest.raises(EditorError, match="encode_images"):
        SwapEditor(SwapEditor.Params(texture_images=[tmp_path])).edit(tiny.generator, a, None)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3), np.float32))
    from ganedit.io.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=r"bad\.npy: expected one texture direction"):
        TextureArithmeticEditor(TextureArithmeticEditor.Params(direction_file=bad)).edit(tiny.generator, a, None)
