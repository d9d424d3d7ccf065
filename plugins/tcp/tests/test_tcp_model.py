"""TCP losses, masks, checkpoints, the region editor and the tcp_stylize task (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganedit
from ganedit.io.checkpoint import CheckpointError
from ganedit.io.images import save_image
from ganedit.testing import torch_threads

from ganedit_swapae.checkpoint import new_model, save_swapae
from ganedit_swapae.editors import EncodingContext
from ganedit_swapae.testing import TINY_OPTIONS
from ganedit_tcp.checkpoint import load_tcp, new_tcp_model, save_tcp
from ganedit_tcp.losses import code_consistency_loss, content_alignment_loss, region_style_map
from ganedit_tcp.masks import cluster_mask, random_masks, rect_mask, stroke_mask
from ganedit_tcp.model import ContentHead, TCPEncoder
from ganedit_tcp.region import TCPRegionEditor

TINY = {"resolution": 32, **TINY_OPTIONS}


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Move a fresh network off its init (zero biases and noise strengths) so outputs vary."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            r = torch.randn(p.shape, generator=g)
            p.add_((0.2 if name.endswith("bias") else 0.1) * r)


@pytest.fixture(scope="module")
def tiny_tcp():
    torch.manual_seed(0)
    model = new_tcp_model(TINY, ContentHead(kernel=3, layers=3), parts=("encoder", "generator"))
    for i, part in enumerate(model.parts().values()):
        _perturb(part, 10 + i)
        part.eval()
    return model


@pytest.fixture(scope="module")
def images():
    from ganedit.data import ProceduralDataset

    ds = ProceduralDataset(32, 16, seed=7)
    return torch.stack([ds[i] for i in range(4)])


# ----------------------------------------------------------------------------- losses


def test_code_consistency_is_zero_iff_reencoded_codes_equal_targets():
    c, s = torch.randn(2, 4, 8, 8), torch.randn(2, 32)
    assert code_consistency_loss(c.clone(), s.clone(), c, s).item() == 0.0
    assert code_consistency_loss(c + 0.1, s, c, s).item() == pytest.approx(0.1, rel=1e-5)
    # lambda weighs the style term only
    assert code_consistency_loss(c, s + 0.2, c, s, style_weight=0.5).item() == pytest.approx(0.1, rel=1e-5)
    assert code_consistency_loss(c, s + 0.2, c, s, style_weight=0.0).item() == 0.0


def test_content_alignment_is_zero_for_the_correctly_composed_image():
    g = torch.Generator().manual_seed(0)
    stylized, background = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    composed = mask * stylized + (1 - mask) * background
    assert content_alignment_loss(composed, stylized, background, mask).item() == 0.0
    # Swapping the roles (A's look inside, B's outside) is penalised, as is any other image.
    wrong = (1 - mask) * stylized + mask * background
    assert content_alignment_loss(wrong, stylized, background, mask).item() > 0.05
    assert content_alignment_loss(composed + 0.01, stylized, background, mask).item() == pytest.approx(0.01, rel=1e-4)


def test_region_style_map_blends_codes_by_the_mask():
    a, b = torch.randn(2, 8), torch.randn(2, 8)
    zeros, ones = torch.zeros(2, 1, 16, 16), torch.ones(2, 1, 16, 16)
    assert torch.allclose(region_style_map(a, b, zeros, (4, 4)), a[:, :, None, None].expand(-1, -1, 4, 4))
    assert torch.allclose(region_style_map(a, b, ones, (4, 4)), b[:, :, None, None].expand(-1, -1, 4, 4))
    half = torch.zeros(2, 1, 16, 16)
    half[..., :8] = 1
    m = region_style_map(a, b, half, (4, 4))
    assert torch.allclose(m[..., :2], b[:, :, None, None].expand(-1, -1, 4, 2))
    assert torch.allclose(m[..., 2:], a[:, :, None, None].expand(-1, -1, 4, 2))


# ----------------------------------------------------------------------------- masks


def test_masks_cover_the_requested_fraction_and_are_reproducible():
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        frac = rect_mask((64, 64), (0.2, 0.4), g).mean().item()
        assert 0.1 < frac < 0.5
    s = stroke_mask((64, 64), (0.2, 0.4), torch.Generator().manual_seed(2))
    assert s.shape == (1, 64, 64) and set(s.unique().tolist()) <= {0.0, 1.0} and s.mean() > 0.15
    a = random_masks(4, (32, 32), ("rect", "stroke"), feather_sigma=1.0, generator=torch.Generator().manual_seed(3))
    b = random_masks(4, (32, 32), ("rect", "stroke"), feather_sigma=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (4, 1, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert ((a > 0) & (a < 1)).any()  # feathered edges
    with pytest.raises(ValueError, match="content codes"):
        random_masks(1, (8, 8), ("cluster",))


def test_cluster_mask_follows_the_content_code_layout():
    code = torch.zeros(4, 8, 8)
    code[0, :, :3] = 1  # left part: one kind of content
    code[1, :, 3:] = 1  # right part: another
    m = cluster_mask(code, (32, 32), k=2, generator=torch.Generator().manual_seed(0))[0]
    left = torch.zeros(32, 32)
    left[:, :12] = 1
    assert torch.equal(m, left) or torch.equal(m, 1 - left)


# ----------------------------------------------------------------------------- checkpoints


def test_tcp_checkpoint_round_trip_and_swapae_checkpoints_as_init(tmp_path: Path, tiny_tcp, images):
    path = tmp_path / "tcp.safetensors"
    save_tcp(path, tiny_tcp)
    enc = ganedit.build("encoder", {"type": "tcp", "params": {"checkpoint": str(path)}})
    gen = ganedit.build("generator", {"type": "tcp", "params": {"checkpoint": str(path)}})
    assert isinstance(enc, TCPEncoder) and enc.head == ContentHead(3, 3)
    with torch.no_grad():
        c0, s0 = tiny_tcp.encoder(images)
        c1, s1 = enc(images)
        assert torch.equal(c0, c1) and torch.equal(s0, s1)
        assert torch.equal(tiny_tcp.generator(c0, s0), gen(c1, s1))
    with pytest.raises(CheckpointError, match="content_head_kernel=1"):
        load_tcp(path, head={"kernel": 1})

    swap = new_model(TINY, parts=("encoder", "generator"))
    swap_path = tmp_path / "swapae.safetensors"
    save_swapae(swap_path, swap)
    as_tcp = load_tcp(swap_path, parts=("encoder",))
    assert isinstance(as_tcp.encoder, TCPEncoder) and as_tcp.head.is_swapae
    with torch.no_grad():
        assert torch.equal(as_tcp.encoder(images)[0], swap.encoder(images)[0])
    with pytest.raises(CheckpointError, match="SwapAE's content head"):
        load_tcp(swap_path, head={"kernel": 3})


# ----------------------------------------------------------------------------- region editor


def _mask_png(path: Path, mask: torch.Tensor) -> Path:
    save_image(path, mask.expand(3, -1, -1) * 2 - 1)
    return path


def test_region_editor_zero_mask_gives_reconstruction_one_mask_gives_global_swap(tmp_path: Path, tiny_tcp, images):
    enc, gen = tiny_tcp.encoder, tiny_tcp.generator
    content, style = images[:2], images[2:3]
    style_path = tmp_path / "style.png"
    save_image(style_path, style[0])
    ctx = EncodingContext(enc, 32)
    with torch.no_grad():
        latent = enc.encode(content)
        s_b = ctx.encode_images([style_path]).texture
        rec = gen(latent.structure, latent.texture)
        swap = gen(latent.structure, s_b.expand(2, -1))

    def run(**params):
        editor = TCPRegionEditor(TCPRegionEditor.Params(style=style_path, **params))
        return editor.edit(gen, latent, ctx)

    zero = _mask_png(tmp_path / "zero.png", torch.zeros(1, 32, 32))
    one = _mask_png(tmp_path / "one.png", torch.ones(1, 32, 32))
    assert (rec - swap).abs().max() > 0.01  # the test is not vacuous
    assert torch.allclose(run(mask=zero)[0].images, rec, atol=1e-5)
    assert torch.allclose(run(mask=one)[0].images, swap, atol=1e-5)
    assert torch.equal(run()[0].images, swap)  # no mask: global stylization

    # Interpolation: alpha 0 is the reconstruction, 1 the swap; labels per alpha.
    edits = run(strengths=[0.0, 0.5, 1.0])
    assert [e.label for e in edits] == ["tcp_region_0", "tcp_region_0.5", "tcp_region_1"]
    assert torch.allclose(edits[0].images, rec, atol=1e-6) and torch.allclose(edits[2].images, swap, atol=1e-6)

    # A half mask with pixel compositing: A's pixels outside, the edit differs inside.
    half = torch.zeros(1, 32, 32)
    half[..., 16:] = 1
    half_path = _mask_png(tmp_path / "half.png", half)
    ctx.images = content
    out = run(mask=half_path, composite="input")[0].images
    assert torch.equal(out[..., :16], content[..., :16])
    assert (out[..., 16:] - content[..., 16:]).abs().mean() > 0.01
    ctx.images = None
    with pytest.raises(Exception, match="tcp_stylize"):
        run(mask=half_path, composite="input")


def test_region_editor_several_regions_each_with_its_own_style(tmp_path: Path, tiny_tcp, images):
    enc, gen = tiny_tcp.encoder, tiny_tcp.generator
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"s{i}.png")
        save_image(paths[-1], images[2 + i])
    ctx = EncodingContext(enc, 32)
    latent = enc.encode(images[:1])
    params = TCPRegionEditor.Params(regions=[{"shape": "left", "style": paths[0]}, {"shape": "right", "style": paths[1]}])
    out = TCPRegionEditor(params).edit(gen, latent, ctx)[0].images
    with torch.no_grad():
        full = [gen(latent.structure, ctx.encode_images([p]).texture) for p in paths]
    # Far from the seam each half looks like the corresponding global stylization.
    assert (out[..., :10] - full[0][..., :10]).abs().mean() < (out[..., :10] - full[1][..., :10]).abs().mean()
    assert (out[..., 22:] - full[1][..., 22:]).abs().mean() < (out[..., 22:] - full[0][..., 22:]).abs().mean()
    with pytest.raises(ValueError, match="not both"):
        TCPRegionEditor.Params(style=paths[0], regions=[{"shape": "left"}])


def test_tcp_stylize_task_runs_editors_on_content_images(tmp_path: Path, tiny_tcp):
    model = tmp_path / "tcp.safetensors"
    save_tcp(model, tiny_tcp)
    style = tmp_path / "style.png"
    from ganedit.data import render

    save_image(style, render(5, 6, 32))
    half = torch.zeros(1, 32, 32)
    half[..., 16:] = 1
    mask = _mask_png(tmp_path / "half.png", half)
    spec = {"type": "tcp", "params": {"checkpoint": str(model)}}
    cfg = {
        "task": "tcp_stylize", "device": "cpu", "encoder": spec, "generator": spec,
        "procedural_content": [[1, 2], [3, 4]], "style_images": [str(style)],
        "editors": [
            {"type": "tcp_region", "params": {"style": str(style), "mask": str(mask), "composite": "input"}},
            {"type": "tcp_region", "params": {"regions": [{"shape": "center", "style_index": 0}],
                                              "strengths": [0.5, 1.0]}},
        ],
    }
    summary = ganedit.run(cfg, output=tmp_path / "run", quiet=True)
    assert summary["num_content"] == 2
    assert [e["edits"] for e in summary["editors"]] == [["tcp_region"], ["tcp_region_0.5", "tcp_region_1"]]
    assert (tmp_path / "run" / "images" / "0_tcp_region" / "grid.png").is_file()
    assert (tmp_path / "run" / "images" / "1_tcp_region" / "01_proc_s3_t4" / "tcp_region_1.png").is_file()
    bad = dict(cfg, editors=[{"type": "tcp_region", "params": {"mask": str(tmp_path / "missing.png")}}])
    from ganedit.config import ConfigError

    with pytest.raises(ConfigError, match="missing.png"):
        ganedit.run(bad, output=tmp_path / "bad", quiet=True)


def test_shipped_region_config_runs_on_the_bundled_model(monkeypatch, tmp_path: Path):
    """``configs/tcp_region.yaml`` as shipped: every editor writes its grid; with ``composite: input``
    the content image's pixels are kept outside the masks; stylization changes the inside more."""
    from ganedit.io.images import load_image
    from ganedit.testing import repo_root

    root = repo_root()
    if not (root / "assets" / "models" / "tcp_64.safetensors").is_file():
        pytest.skip("the bundled model assets/models/tcp_64.safetensors is absent (see docs/models.md)")
    monkeypatch.chdir(root)
    out = tmp_path / "run"
    summary = ganedit.run("configs/tcp_region.yaml", output=out, device="cpu", quiet=True)
    assert summary["num_content"] == 4 and len(summary["editors"]) == 3
    images = out / "images"
    content = load_image(root / "assets/images/tcp/content/content_0.png")
    masks = [load_image(root / f"assets/images/tcp/masks/{m}.png")[:1] > 0 for m in ("left", "center", "stroke")]
    outside = ~(masks[0] | masks[1])
    composed = load_image(next((images / "1_tcp_region").glob("00_*/tcp_region.png")))
    assert (composed - content)[:, outside[0]].abs().max() < 2.5 / 255 * 2
    stroked = load_image(next((images / "0_tcp_region").glob("00_*/tcp_region.png")))
    stroke = masks[2][0]
    assert (stroked - content)[:, stroke].abs().mean() > (stroked - content)[:, ~stroke].abs().mean()
    for k in range(3):
        assert (images / f"{k}_tcp_region" / "grid.png").is_file()
