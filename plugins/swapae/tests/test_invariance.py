"""Recipe switches of ``swapae_train``: the structure colour-invariance term (ours) and the patch
discriminator's reference aggregation (official option)."""

from __future__ import annotations

import pytest
import torch

from ganedit.data import paint, structure_labels
from ganedit.testing import torch_threads
from ganedit_swapae.invariance import colour_jitter, structure_invariance_loss
from ganedit_swapae.losses import CooccurrenceCritic

RES = 32


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _flat_images(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat-textured procedural images and their label maps (exact region colours: supersample 1)."""
    labels = torch.stack([structure_labels(s, RES, "kind") for s in range(n)])
    images = torch.stack([paint(lab, 10 + i, patterns=["flat"], palette="global") for i, lab in enumerate(labels)])
    return images, labels


class _LabelModel:
    """A constructed encoder/generator pair on flat procedural images: the structure code is the
    one-hot label map (``colour_blind``: read from the layout, whatever the colours; otherwise the
    image itself leaks into it), the texture code the mean colour of each slot; the generator
    paints the label map with the texture's colours."""

    def __init__(self, labels: torch.Tensor, colour_blind: bool):
        self.labels, self.colour_blind = labels, colour_blind

    def encoder(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        onehot = torch.nn.functional.one_hot(self.labels, 5).permute(0, 3, 1, 2).float()
        texture = torch.stack([torch.stack([x[i][:, self.labels[i] == k].mean(1) if (self.labels[i] == k).any()
                                            else torch.zeros(3) for k in range(5)]) for i in range(x.shape[0])])
        structure = onehot if self.colour_blind else torch.cat([onehot, x], 1)
        return structure, texture

    def generator(self, structure: torch.Tensor, texture: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("bkhw,bkc->bchw", structure[:, :5], texture)
        if not self.colour_blind:  # the colour carried by the structure code reaches the output
            out = 0.5 * out + 0.5 * structure[:, 5:]
        return out


def test_invariance_term_is_zero_when_the_structure_code_ignores_colour():
    x, labels = _flat_images()
    jitter = lambda im: colour_jitter(im, generator=torch.Generator().manual_seed(0))  # noqa: E731
    blind = _LabelModel(labels, colour_blind=True)
    texture = blind.encoder(x)[1]
    # the constructed model reconstructs x exactly, so only a leak could make the term positive
    assert torch.allclose(blind.generator(blind.encoder(x)[0], texture), x, atol=1e-6)
    assert structure_invariance_loss(blind.encoder, blind.generator, x, texture, jitter).item() < 1e-6
    leaky = _LabelModel(labels, colour_blind=False)
    assert torch.allclose(leaky.generator(*leaky.encoder(x)), x, atol=1e-6)  # a perfect autoencoder too
    assert structure_invariance_loss(leaky.encoder, leaky.generator, x, leaky.encoder(x)[1], jitter).item() > 0.02


def test_colour_jitter_changes_colours_not_layout():
    x, labels = _flat_images()
    g = torch.Generator().manual_seed(1)
    y = colour_jitter(x, generator=g)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert (y - x).abs().mean() > 0.05
    # flat regions stay flat: the jitter acts on colours pixel by pixel
    for img, lab in zip(y, labels):
        for k in lab.unique():
            assert float(img[:, lab == k].std(1).max()) < 1e-4
    assert torch.equal(colour_jitter(x, generator=torch.Generator().manual_seed(1)), y)  # seeded
    assert torch.allclose(colour_jitter(x, hue=0, saturation=(1, 1), brightness=0), x, atol=1e-6)


def test_aggregation_on_and_off_give_different_critic_inputs(tiny):
    dpatch = tiny.patch_discriminator
    critic = CooccurrenceCritic(dpatch)
    x, _ = _flat_images(2)
    g = torch.Generator().manual_seed(2)
    ref, query = critic.sample_crops(x, g), critic.sample_crops(x, g)
    with torch.no_grad():
        on = dpatch.extract_features(ref, aggregate=True)
        off = dpatch.extract_features(ref, aggregate=False)
        t = ref.shape[1]
        # on: every crop of an image is judged against the image's mean reference; off: its own crop
        assert torch.allclose(on.view(2, t, -1), on.view(2, t, -1)[:, :1].expand(-1, t, -1))
        assert torch.allclose(on.view(2, t, -1)[:, 0], off.view(2, t, -1).mean(1), atol=1e-5)
        assert not torch.allclose(on, off)
        (pred_on,), (pred_off,) = critic(ref, [query], aggregate=True), critic(ref, [query], aggregate=False)
    assert not torch.allclose(pred_on, pred_off)


def test_trainer_adds_the_invariance_term_only_when_switched_on(tmp_path):
    import ganedit
    from ganedit.training import read_train_log
    from ganedit_swapae.testing import TINY_OPTIONS

    def config(weight: float) -> dict:
        return {"task": "swapae_train", "seed": 3, "device": "cpu",
                "dataset": {"type": "procedural", "params": {"resolution": 32, "length": 8, "palette": "global"}},
                "model": dict(TINY_OPTIONS), "steps": 2, "batch_size": 4, "log_every": 1, "sample_every": 0,
                "checkpoint_every": 0, "grid_images": 2, "lambda_structure_invariance": weight}

    ganedit.run(config(10.0), output=tmp_path / "on", quiet=True)
    ganedit.run(config(0.0), output=tmp_path / "off", quiet=True)
    on, off = read_train_log(tmp_path / "on")[-1], read_train_log(tmp_path / "off")[-1]
    assert on["G_inv"] > 0 and "G_inv" not in off
    # the other terms of the first G step are the paper's either way (same seed, same batch)
    assert on["G_L1"] == pytest.approx(off["G_L1"])
