"""The procedural dataset: known factors, drawing options, clear errors."""

import pytest
import torch

import ganedit
from ganedit.data import PATTERNS, ProceduralDataset, render, structure_labels, texture_params


def test_render_is_deterministic_and_in_range():
    a, b = render(3, 4, 32), render(3, 4, 32)
    assert a.shape == (3, 32, 32) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1


def test_texture_seed_changes_colours_not_layout():
    labels = structure_labels(3, 32)
    a, b = render(3, 4, 32, supersample=1), render(3, 5, 32, supersample=1)
    assert (a - b).abs().mean() > 0.05
    # with flat textures every region is a single colour, whatever the texture seed
    for t in (4, 5):
        flat = render(3, t, 32, supersample=1, patterns=["flat"])
        for k in labels.unique():
            region = flat[:, labels == k]
            assert float(region.std(1).max()) < 1e-6


def test_default_drawing_is_all_patterns_in_drawing_order():
    assert torch.equal(render(7, 8, 32), render(7, 8, 32, 2, PATTERNS, "order", "per_region"))


def _hsv(rgb: torch.Tensor) -> tuple[float, float, float]:
    import colorsys

    return colorsys.rgb_to_hsv(*rgb.tolist())


def test_shared_palette_is_one_texture_turned_per_region():
    for seed in range(6):
        regions = texture_params(seed, ["flat", "gradient"], "shared")
        h0, s0, v0 = _hsv(regions[0]["c1"])
        for k, p in enumerate(regions):
            h, s, v = _hsv(p["c1"])
            assert abs(s - s0) < 1e-5 and abs(v - v0) < 1e-5
            assert abs((h - h0 - k / len(regions) + 0.5) % 1.0 - 0.5) < 1e-5
            assert p["pattern"] == regions[0]["pattern"]
            for key in ("freq", "angle", "phase"):
                assert torch.equal(p[key], regions[0][key])
    # per-region palettes draw every region's saturation and value separately
    per_region = [_hsv(p["c1"]) for p in texture_params(0)]
    assert len({round(s, 4) for _, s, _ in per_region}) > 1
    # a shared palette is still a texture factor: the layout does not move with it
    a, b = render(3, 4, 32, palette="shared"), render(3, 5, 32, palette="shared")
    assert (a - b).abs().mean() > 0.05
    assert torch.equal(ProceduralDataset(32, 2, palette="shared")[0],
                       render(*ProceduralDataset(32, 2).factors(0), 32, palette="shared"))


def test_global_palette_is_one_texture_over_the_whole_image():
    from ganedit.data import GLOBAL_SCHEME

    for seed in range(6):
        regions = texture_params(seed, ["flat", "gradient", "waves"], "global")
        base = _hsv(regions[0]["c1"])[0]
        for p, (dh, _, _) in zip(regions, GLOBAL_SCHEME):
            # every slot's hue is the image's hue turned by its scheme offset, up to a small shift
            assert abs((_hsv(p["c1"])[0] - base - dh + 0.5) % 1.0 - 0.5) <= 0.04 + 1e-5
            # one pattern field: the same family, frequency, orientation and phase in every region
            assert p["pattern"] == regions[0]["pattern"]
            for key in ("freq", "angle", "phase"):
                assert torch.equal(p[key], regions[0][key])
    # the layout shows in any texture: the slots' values differ clearly
    values = [_hsv(p["c1"])[2] for p in texture_params(0, ["flat"], "global")]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 0.02


def test_global_palette_truth_of_a_self_swap_is_the_image():
    # the swap's ground truth render(structure of A, texture of B) is well posed for every pair;
    # for B = A it is A itself
    ds = ProceduralDataset(32, 8, seed=4, patterns=("flat", "gradient", "waves"), shape_labels="kind",
                           palette="global")
    for i in range(4):
        s, t = ds.factors(i)
        assert torch.equal(ds.render(s, t), ds[i])
    (sa, ta), (sb, tb) = ds.factors(0), ds.factors(1)
    truth = ds.render(sa, tb)
    assert (truth - ds[0]).abs().mean() > 0.05 and (truth - ds[1]).abs().mean() > 0.05
    # texture seeds keep the layout: regions of A's label map, B's colours
    labels = ds.labels(sa)
    flat = render(sa, tb, 32, 1, ["flat"], "kind", "global")
    for k in labels.unique():
        assert float(flat[:, labels == k].std(1).max()) < 1e-6


def test_pattern_subset_keeps_colours():
    # the other draws are made either way, so a texture seed keeps its colours in any family
    full, flat = texture_params(12), texture_params(12, ["flat", "gradient"])
    for f, g in zip(full, flat):
        assert torch.equal(f["c1"], g["c1"]) and torch.equal(f["c2"], g["c2"])
        assert PATTERNS[g["pattern"]] in ("flat", "gradient")


def test_kind_labels_draw_the_same_shapes():
    for seed in range(8):
        order, kind = structure_labels(seed, 48, "order"), structure_labels(seed, 48, "kind")
        assert torch.equal(order < 2, kind < 2) and torch.equal(order[order < 2], kind[kind < 2])
        assert set(kind[kind >= 2].unique().tolist()) <= {2, 3, 4}
    # a layout with two shapes of different kinds: "order" and "kind" name them differently somewhere
    assert any(not torch.equal(structure_labels(s, 48, "order"), structure_labels(s, 48, "kind")) for s in range(8))


def test_dataset_renders_with_its_drawing():
    ds = ProceduralDataset(32, 4, seed=2, patterns=("flat", "gradient"), shape_labels="kind")
    s, t = ds.factors(1)
    assert torch.equal(ds[1], render(s, t, 32, 2, ("flat", "gradient"), "kind"))
    assert torch.equal(ds.labels(s), structure_labels(s, 32, "kind"))


@pytest.mark.parametrize("patterns", [[], ["flat", "flat"], ["plaid"]])
def test_bad_patterns_are_refused(patterns):
    with pytest.raises(ValueError, match="patterns"):
        render(1, 2, 16, patterns=patterns)


def test_bad_shape_labels_are_refused():
    with pytest.raises(ValueError, match="shape_labels"):
        structure_labels(1, 16, "colour")  # type: ignore[arg-type]


def test_bad_palette_is_refused():
    with pytest.raises(ValueError, match="palette must be one of per_region, shared, global"):
        render(1, 2, 16, palette="rainbow")  # type: ignore[arg-type]


def test_dataset_config_errors_name_the_path():
    for params, where in (({"patterns": ["plaid"]}, "patterns"), ({"patterns": ["flat", "flat"]}, "patterns"),
                          ({"shape_labels": "size"}, "shape_labels"), ({"palette": "rainbow"}, "palette")):
        with pytest.raises(Exception, match=rf"dataset\.params\.{where}"):
            ganedit.build("dataset", {"type": "procedural", "params": params})
    ds = ganedit.build("dataset", {"type": "procedural", "params": {
        "resolution": 16, "length": 2, "patterns": ["flat"], "shape_labels": "kind", "palette": "shared"}})
    assert ds.patterns == ("flat",) and ds.shape_labels == "kind" and ds.palette == "shared"


# SHA-256 (first 16 hex digits) of the float32 bytes of images drawn by the one-image-at-a-time
# renderer of main at c8e4227, before the batched renderer replaced it: the pixels must not move,
# so bundled models and benchmark references keep their meaning.
RENDER_HASHES = [
    ((3, 4, 32, 2, PATTERNS, "order", "per_region"), "f4d8da2bf21bfd59"),
    ((11, 5, 32, 2, PATTERNS, "kind", "shared"), "8be2ca961eb3a187"),
    ((40, 41, 64, 2, ("flat", "gradient", "waves"), "kind", "global"), "902d576d446018d9"),
    ((8, 9, 24, 3, ("stripes", "checks", "dots"), "order", "per_region"), "af772a53a26bcb57"),
]


@pytest.mark.parametrize("args,digest", RENDER_HASHES)
def test_render_draws_the_same_pixels_as_before(args, digest):
    import hashlib

    assert hashlib.sha256(render(*args).numpy().tobytes()).hexdigest()[:16] == digest


@pytest.mark.parametrize("palette", ["per_region", "shared", "global"])
@pytest.mark.parametrize("resolution,supersample,patterns,shape_labels", [
    (32, 2, PATTERNS, "order"), (20, 1, ("flat", "gradient", "waves"), "kind"), (12, 3, ("checks", "dots"), "order")])
def test_batched_render_equals_one_at_a_time(palette, resolution, supersample, patterns, shape_labels):
    from ganedit.data import render_batch

    seeds = [(2 * i + 1, 7 * i + 3) for i in range(9)]
    batch = render_batch([s for s, _ in seeds], [t for _, t in seeds], resolution, supersample, patterns,
                         shape_labels, palette)
    assert batch.shape == (9, 3, resolution, resolution) and batch.is_contiguous()
    assert render_batch([], [], resolution, supersample).shape == (0, 3, resolution, resolution)
    for img, (s, t) in zip(batch, seeds):
        assert torch.equal(img, render(s, t, resolution, supersample, patterns, shape_labels, palette))


def test_dataset_batches_equal_its_items_in_the_stream_and_in_workers():
    from ganedit.training.data import DataStream

    ds = ProceduralDataset(16, 40, seed=3, palette="global")
    assert [x.shape for x in ds.__getitems__([0, 5])] == [(3, 16, 16)] * 2
    stream = DataStream(ds, 6, seed=1)
    batch = next(stream)
    first_six = stream.epoch_indices(0)[:6]
    assert torch.equal(batch, torch.stack([ds[i] for i in first_six]))
    with pytest.raises(IndexError):
        ds.__getitems__([0, 40])
    workers = DataStream(ds, 6, seed=1, num_workers=1)
    assert torch.equal(next(workers), batch)
