"""Official checkpoint layouts beyond the parity fixture (W / W+ / IR / ResNet encoders, latent_avg
forms, training extras) and the clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ganedit
from ganedit.io.checkpoint import CheckpointError
from ganedit.latent import LatentError

from ganedit_encoders.checkpoint import load_encoder_checkpoint


def encoder(typ: str, path, **params):
    return ganedit.build("encoder", {"type": typ, "params": {"checkpoint": str(path), **params}}).eval()


@torch.no_grad()
@pytest.mark.parametrize("form", ["vector", "row", "rows"])
def test_w_encoder_broadcasts_one_code(official_file, x256, form):
    """pSp's BackboneEncoderUsingLastLayerIntoW: one code + the average, on every style; the
    average may be stored [S] (coach), [1, S] (learn_in_w) or repeated rows."""
    avg = torch.randn(8)
    stored = {"vector": avg, "row": avg[None], "rows": avg.repeat(6, 1)}[form]
    path = official_file("BackboneEncoderUsingLastLayerIntoW", latent_avg=stored, learn_in_w=True)
    E = encoder("psp", path)
    ws = E.encode(x256).ws
    assert ws.shape == (2, 6, 8)
    expected = E.net(x256) + avg
    assert torch.allclose(ws, expected[:, None].expand(-1, 6, -1), atol=1e-6)
    assert {"linear.weight", "linear.bias"} <= set(E.net.state_dict())


@torch.no_grad()
def test_wplus_encoder_layout(official_file, x256):
    path = official_file("BackboneEncoderUsingLastLayerIntoWPlus")
    E = encoder("psp", path)
    # built without storage, then every tensor assigned from the file: nothing left on "meta"
    assert not any(t.is_meta for t in E.state_dict().values())
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in E.net.parameters())
    keys = set(E.net.state_dict())
    assert {"output_layer_2.0.running_var", "output_layer_2.3.weight", "linear.weight"} <= keys
    ws = E.encode(x256).ws
    raw = torch.load(path, weights_only=True)
    assert torch.allclose(ws, E.net(x256) + raw["latent_avg"], atol=1e-6)


@torch.no_grad()
def test_latent_avg_rows_are_per_style(official_file, x256):
    """Distinct rows are added style by style (the fixture README's 'only row 0' mistake)."""
    path = official_file("GradualStyleEncoder")
    E = encoder("psp", path)
    rows = torch.load(path, weights_only=True)["latent_avg"]
    assert torch.allclose(E.encode(x256).ws - E.net(x256), rows.expand(2, -1, -1), atol=1e-6)


@torch.no_grad()
def test_no_start_from_latent_avg_adds_nothing(official_file, x256):
    E = encoder("psp", official_file("GradualStyleEncoder", start_from_latent_avg=False))
    assert not E.adds_latent_avg
    assert torch.equal(E.encode(x256).ws, E.net(x256))


@torch.no_grad()
def test_missing_latent_avg_is_estimated_deterministically(official_file, x256):
    """e4e computes decoder.mean_latent when the file has no average; ours is seeded (same twice)."""
    path = official_file("Encoder4Editing", latent_avg=None)
    a, b = load_encoder_checkpoint(path, "e4e"), load_encoder_checkpoint(path, "e4e")
    assert a.latent_avg.shape == (1, 8) and torch.equal(a.latent_avg, b.latent_avg)
    assert "estimated" in a.metadata["latent_avg"]
    assert torch.equal(a.latent_avg[0], a.decoder.w_avg)


@torch.no_grad()
def test_ir_backbone_without_se(official_file, x256):
    path = official_file("GradualStyleEncoder", backbone="ir50")
    ckpt = load_encoder_checkpoint(path, "psp")
    assert ckpt.metadata["backbone"] == "ir50"
    assert not any("fc1" in k for k in ckpt.encoder.state_dict())


@pytest.mark.parametrize("encoder_type", ["ResNetBackboneEncoder", "ResNetProgressiveBackboneEncoder",
                                          "ResNetGradualStyleEncoder"])
@torch.no_grad()
def test_restyle_resnet_backbones(official_file, x256, encoder_type):
    """ReStyle's ResNet-34 encoders: layer1..4 blocks renamed body.0..15 (the official RESNET_MAPPING),
    a PReLU stem without max-pool; the refinement runs on them."""
    E = encoder("restyle", official_file(encoder_type), iterations=2)
    ours = set(E.net.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "relu.weight"} <= ours
    assert {k.split(".")[1] for k in ours if k.startswith("body.")} == {str(i) for i in range(16)}
    assert {k for k in ours if k.startswith("body.3.downsample")} == {
        "body.3.downsample.0.weight", *(f"body.3.downsample.1.{n}" for n in
                                        ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))}
    steps = E.refine(x256[:1])
    assert len(steps) == 2 and steps[1][1].shape == (1, 3, 16, 16)


@torch.no_grad()
def test_resnet34_body_is_torchvisions():
    """The hand-written ResNet-34 body has torchvision's parameter names (mapped as the official
    RESNET_MAPPING does) and computes what torchvision's blocks compute."""
    import torchvision

    from ganedit_encoders.networks import resnet34_body

    ref = torchvision.models.resnet34(weights=None).eval()
    starts = {"layer1": 0, "layer2": 3, "layer3": 7, "layer4": 13}
    mapped = {f"{starts[k.split('.')[0]] + int(k.split('.')[1])}.{k.split('.', 2)[2]}": v
              for k, v in ref.state_dict().items() if k.startswith("layer")}
    body = resnet34_body(64).eval()
    body.load_state_dict(mapped, strict=True)
    x = torch.randn(1, 64, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = ref.layer4(ref.layer3(ref.layer2(ref.layer1(x))))
    assert torch.allclose(body(x), expected, atol=1e-5)


@torch.no_grad()
def test_opts_as_namespace_and_extras_load(official_file, x256):
    """Some forks pickle opts as an argparse.Namespace (allowed); training extras are ignored."""
    import argparse

    path = official_file("Encoder4Editing", extra={"global_step": 5, "best_val_loss": None})
    obj = torch.load(path, weights_only=True)
    obj["opts"] = argparse.Namespace(**obj["opts"])
    torch.save(obj, path)
    ckpt = load_encoder_checkpoint(path, "e4e")
    assert ckpt.encoder_type == "Encoder4Editing" and ckpt.opts["device"] == "cuda:0"
    assert ckpt.metadata["ignored_keys"] == ["best_val_loss", "global_step"]


@torch.no_grad()
def test_encoder_type_from_keys_when_opts_lack_it(official_file):
    path = official_file("Encoder4Editing")
    obj = torch.load(path, weights_only=True)
    del obj["opts"]["encoder_type"]
    torch.save(obj, path)
    assert load_encoder_checkpoint(path, "e4e").encoder.progressive
    assert not load_encoder_checkpoint(path, "psp").encoder.progressive  # same modules: pSp's FPN


# --------------------------------------------------------------------------- errors


def test_wrong_family_names_the_right_type(official_file):
    path = official_file("Encoder4Editing")
    with pytest.raises(CheckpointError, match=r"e4e \(encoder4editing\) checkpoint.*use encoder type 'e4e', not 'psp'"):
        encoder("psp", path)
    with pytest.raises(CheckpointError, match="use encoder type 'restyle'"):
        encoder("e4e", official_file("BackboneEncoder"))


def test_stylegan2_file_is_not_an_encoder(tmp_path):
    from ganedit_stylegan2.networks import Generator

    path = tmp_path / "g.pt"
    torch.save({"g_ema": Generator(8, style_dim=8, n_mlp=1, channels={4: 4, 8: 4}).state_dict()}, path)
    with pytest.raises(CheckpointError, match="not a pSp/e4e/ReStyle checkpoint.*use it as a generator"):
        encoder("e4e", path)


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"encoder.x": torch.zeros(1)}, "opts": _Payload()}, path)
    with pytest.raises(CheckpointError, match="nothing from it was executed"):
        encoder("e4e", path)
    assert "pwned" not in capsys.readouterr().out


def test_truncated_file(official_file, tmp_path):
    data = official_file("Encoder4Editing").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        encoder("e4e", path)


def _edited(path, tmp_path, fn):
    obj = torch.load(path, weights_only=True)
    fn(obj)
    out = tmp_path / f"edited_{path.name}"
    torch.save(obj, out)
    return out


def test_shape_and_key_mismatches(official_file, tmp_path):
    path = official_file("Encoder4Editing")
    bad = _edited(path, tmp_path, lambda o: o["state_dict"].__setitem__(
        "encoder.latlayer1.weight", torch.zeros(8, 8, 3, 3)))
    with pytest.raises(CheckpointError, match=r"do not match the official Encoder4Editing \(shape mismatches "
                                              r"latlayer1.weight \(8, 8, 3, 3\) vs \(8, 8, 1, 1\)"):
        encoder("e4e", bad)
    gone = _edited(path, tmp_path, lambda o: o["state_dict"].pop("encoder.body.5.res_layer.2.weight"))
    with pytest.raises(CheckpointError, match=r"missing body.5.res_layer.2.weight"):
        encoder("e4e", gone)


def test_style_count_must_match_decoder(official_file, tmp_path):
    def drop_last_style(o):
        for k in [k for k in o["state_dict"] if k.startswith("encoder.styles.5.")]:
            del o["state_dict"][k]

    bad = _edited(official_file("Encoder4Editing"), tmp_path, drop_last_style)
    with pytest.raises(CheckpointError, match="predicts 5 styles of width 8, its decoder takes 6 of width 8"):
        encoder("e4e", bad)


def test_output_size_mismatch(official_file):
    with pytest.raises(CheckpointError, match="opts.stylegan_size=1024 but the decoder weights are 16 px"):
        encoder("e4e", official_file("Encoder4Editing", stylegan_size=1024))


def test_non_image_psp_is_refused(official_file, tmp_path):
    """pSp for sketches (input_nc 1) is not an inversion encoder."""
    from ganedit_encoders.networks import FPNStyleEncoder

    def one_channel(o):
        o["state_dict"]["encoder.input_layer.0.weight"] = torch.zeros(4, 1, 3, 3)

    bad = _edited(official_file("GradualStyleEncoder"), tmp_path, one_channel)
    assert FPNStyleEncoder  # the class exists; the file just reads another input
    with pytest.raises(CheckpointError, match="reads 1 input channels; an image inversion encoder reads 3"):
        encoder("psp", bad)


@pytest.mark.parametrize("value, message", [(torch.zeros(3, 8), r"latent_avg has shape \(3, 8\)"),
                                            (torch.full((6, 8), float("nan")), "tensor 'latent_avg' holds 48 non-finite")])
def test_bad_latent_avg(official_file, value, message):
    with pytest.raises(CheckpointError, match=message):
        encoder("e4e", official_file("Encoder4Editing", latent_avg=value))


def test_non_finite_weights_are_refused(official_file, tmp_path):
    def poison(o):
        o["state_dict"]["encoder.styles.2.linear.weight"][0, 0] = float("inf")

    with pytest.raises(CheckpointError, match="tensor 'state_dict.encoder.styles.2.linear.weight' holds 1 non-finite"):
        encoder("e4e", _edited(official_file("Encoder4Editing"), tmp_path, poison))


def test_restyle_needs_latent_avg(official_file):
    with pytest.raises(CheckpointError, match="ReStyle checkpoint without latent_avg"):
        encoder("restyle", official_file("BackboneEncoder", latent_avg=None))


def test_missing_file_says_what_to_download(tmp_path):
    from ganedit.config import ConfigError, load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""task: invert
generator: {{type: stylegan2, params: {{checkpoint: null, resolution: 16}}}}
inverter:
  type: encoder
  params: {{encoder: {{type: restyle, params: {{checkpoint: {tmp_path}/restyle_e4e_ffhq_encode.pt}}}}}}
inputs: {cfg}
""")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    text = str(err.value)
    assert "file not found" in text and "restyle_e4e_ffhq_encode.pt" in text
    assert "https://github.com/yuval-alaluf/restyle-encoder#pretrained-models" in text


def test_encoder_for_another_generator_fails_before_any_image(official_file):
    """The encoder's code shape is checked against the generator up front, also when nested in a
    tuning inverter (near_perfect / pti `initial:`)."""
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"resolution": 32, "style_dim": 8, "n_mlp": 1,
                                                                    "channels": {4: 4, 8: 4, 16: 4, 32: 4}}})
    enc = {"type": "encoder", "params": {"encoder": {"type": "e4e",
                                                     "params": {"checkpoint": str(official_file("Encoder4Editing"))}}}}
    for spec in (enc, {"type": "pti", "params": {"initial": enc}}):
        inverter = ganedit.build("inverter", spec)
        with pytest.raises(LatentError, match="n_styles=6, the generator has num_ws=8"):
            inverter.check_generator(G, None)


def test_other_torch_content(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="not a pSp/e4e/ReStyle checkpoint; the file holds a list"):
        encoder("psp", path)


def test_input_resize_is_the_official_transform():
    """encoder_input = torchvision's Resize((256, 256)) on a PIL image (bilinear, antialiased), then
    ToTensor + Normalize(0.5, 0.5): within one uint8 level (PIL's fixed-point rounding) for down- and
    upscaling of pixel noise, where a resize without antialiasing is off by ~100 levels."""
    from PIL import Image

    from ganedit_encoders import encoder_input

    g = torch.Generator().manual_seed(0)
    for size in (1024, 300, 64):
        u8 = (torch.rand(3, size, size, generator=g) * 255).round().to(torch.uint8)
        pil = Image.fromarray(u8.permute(1, 2, 0).numpy()).resize((256, 256), Image.BILINEAR)
        official = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float() / 127.5 - 1
        ours = encoder_input(u8[None].float() / 127.5 - 1)[0]
        assert (ours - official).abs().max() * 127.5 <= 1.01, size


@torch.no_grad()
def test_decoder_loads_as_stylegan2_generator(official_file):
    """type: stylegan2 reads state_dict['decoder.*']; a latent_avg of one repeated vector (as training
    stores it) is the truncation centre, distinct rows are not (the centre is then estimated)."""
    from ganedit_stylegan2.plugin import sniff_rosinality

    avg = torch.randn(8)
    repeated = official_file("Encoder4Editing", latent_avg=avg.repeat(6, 1))
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(repeated)}})
    assert torch.equal(G.w_avg, avg) and (G.num_ws, G.w_dim, G.img_resolution) == (6, 8, 16)
    raw = torch.load(repeated, weights_only=True)["state_dict"]
    assert torch.equal(G.net.convs[0].conv.weight, raw["decoder.convs.0.conv.weight"])
    assert sniff_rosinality(repeated)
    distinct = official_file("Encoder4Editing", latent_avg=torch.randn(6, 8))
    G2 = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(distinct)}})
    assert not torch.equal(G2.w_avg, torch.load(distinct, weights_only=True)["latent_avg"][0])
    with pytest.raises(CheckpointError, match="no discriminator"):
        ganedit.build("discriminator", {"type": "stylegan2", "params": {"checkpoint": str(distinct)}})
