"""``ganedit serve`` without a browser: upload checks, sessions (inversion into a run folder with
progress, edits through the config's own editors, reproduction with ``ganedit run``), the page's
handlers, the CLI. The browser test is tests/test_serve_browser.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import torch
import yaml
from PIL import Image

import ganedit
from ganedit.cli import main
from ganedit.config import ConfigError
from ganedit.io.images import load_image
from ganedit.metrics import psnr
from ganedit.serve import Session, SessionError, UploadError, UploadLimits, Workbench, check_upload
from ganedit.serve.editing import Mask, Slider
from ganedit.testing import repo_root, torch_threads

#: The bundled near-inversion config, cut to a few steps (the page's logic, not the method, is tested).
TINY = ["inverter.params.initial.params.steps=4", "inverter.params.steps=4"]


@pytest.fixture(scope="module")
def at_repo():
    """The bundled configs name their files relative to the repository root."""
    with pytest.MonkeyPatch.context() as mp, torch_threads(1):
        mp.chdir(repo_root())
        yield


@pytest.fixture(scope="module")
def near(at_repo, tmp_path_factory):
    return Workbench("configs/near_inversion.yaml", overrides=TINY, root=tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def near_session(near):
    """A session that inverted the bundled astronaut photo (the progress reports kept)."""
    s = Session(near)
    s.upload(repo_root() / "assets/images/real/astronaut.png", name="astronaut.png")
    s.reports = []
    s.invert(lambda desc, done, total: s.reports.append((desc, done, total)))
    return s


@pytest.fixture(scope="module")
def swap(at_repo, tmp_path_factory):
    return Workbench("configs/swapae_swap.yaml", root=tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def tcp(at_repo, tmp_path_factory):
    return Workbench("configs/tcp_region.yaml", root=tmp_path_factory.mktemp("serve"))


# ----------------------------------------------------------------------------- upload checks
def bad_files(folder):
    """A text file, a huge (but small on disk) image and a truncated PNG."""
    text = folder / "notes.txt"
    text.write_text("not an image\n")
    huge = folder / "huge.png"
    Image.new("L", (5000, 5000)).save(huge)
    data = (repo_root() / "assets/images/real/chelsea.png").read_bytes()
    truncated = folder / "truncated.png"
    truncated.write_bytes(data[: len(data) // 2])
    return text, huge, truncated


def test_upload_checks(tmp_path):
    limits = UploadLimits()
    text, huge, truncated = bad_files(tmp_path)
    with pytest.raises(UploadError, match="not an image"):
        check_upload(text, limits)
    with pytest.raises(UploadError, match=r"5000x5000 pixels is larger than the limit"):
        check_upload(huge, limits)
    with pytest.raises(UploadError, match="truncated"):
        check_upload(truncated, limits)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="empty"):
        check_upload(empty, limits)
    photo = repo_root() / "assets/images/real/chelsea.png"
    with pytest.raises(UploadError, match="MiB is larger than the limit"):
        check_upload(photo, UploadLimits(max_bytes=1000))
    img = check_upload(photo, limits)
    assert img.mode == "RGB" and img.size == Image.open(photo).size
    # A huge image is refused from its header: raising the pixel limit lets it through.
    assert check_upload(huge, UploadLimits(max_pixels=5000 * 5000)).size == (5000, 5000)


def test_bad_upload_keeps_the_session(near, tmp_path):
    s = Session(near)
    for bad in bad_files(tmp_path):
        with pytest.raises(UploadError):
            s.upload(bad)
        assert s.image is None
    s.upload(repo_root() / "assets/images/real/coffee.png")
    assert s.image.suffix == ".png" and s.image.is_relative_to(s.folder)
    assert tuple(s.preview().shape) == (3, 64, 64)


# ----------------------------------------------------------------------------- inversion
def test_workbench_of_bundled_config(near, swap, tcp):
    assert [p.type for p in near.panels] == ["sefa", "style_mixing"]
    assert {s.name for s in near.samples} >= {"astronaut", "chelsea", "sample_1"}
    sefa = near.panels[0]
    assert [c.name for c in sefa.controls] == ["direction", "strength"]
    assert [p.type for p in swap.panels] == ["texture_interpolation", "region_texture"]
    assert len(swap.samples) == 4 and all(s.path.is_file() for s in swap.samples)  # procedural, drawn
    assert [p.type for p in tcp.panels] == ["tcp_region"] * 3
    assert any(isinstance(c, Mask) for c in tcp.panels[0].controls)


def test_workbench_refuses_other_tasks(at_repo, tmp_path):
    with pytest.raises(ConfigError, match="ganedit serve works with"):
        Workbench("configs/swapae_train.yaml", root=tmp_path)


def test_inversion_lands_in_a_run_folder(near_session):
    s, inv = near_session, near_session.inversion
    folder = inv.folder
    for name in ("config.yaml", "metrics.json", "plugins.json"):
        assert (folder / name).is_file()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["inputs"] == [str(s.image.resolve())]
    assert config["inverter"]["type"] == "near_perfect"
    ganedit.load_config(folder / "config.yaml")  # valid as it stands
    record = json.loads((folder / "metrics.json").read_text())["images"][0]
    assert record["status"] == "ok" and inv.metrics["psnr_final"] == record["psnr_final"]
    assert inv.files["latent"].is_file() and inv.files["generator"].is_file()
    assert inv.initial is not None and inv.target.shape == inv.final.shape == (3, 64, 64)
    assert abs(float(psnr(inv.final[None], inv.target[None])) - record["psnr_final"]) < 0.5  # PNG rounding


def test_inversion_reports_the_inverters_steps(near_session):
    steps = [r for r in near_session.reports if r[0].startswith("near_perfect")]
    assert steps[0][1:] == (0, 4) and steps[-1][1] >= 1
    initial = [r for r in near_session.reports if "initial" in r[0]]
    assert initial and initial[-1][1:] == (4, 4)  # the W+ optimisation that starts near_perfect


def test_invert_needs_an_image(near):
    with pytest.raises(SessionError, match="upload an image or pick a sample"):
        Session(near).invert()
    with pytest.raises(SessionError, match="invert an image first"):
        Session(near).edit(0, {})


# ----------------------------------------------------------------------------- edits
def test_sefa_slider_renders_the_editor(near_session):
    s = near_session
    zero, _ = s.edit(0, {"strength": 0.0, "direction": "1"})
    moved, path = s.edit(0, {"strength": 3.0, "direction": "1"})
    assert float(psnr(zero[None], s.inversion.final[None])) > 40  # strength 0 = the reconstruction
    assert float((moved - zero).abs().mean()) > 0.02
    assert torch.allclose(load_image(path), moved.clamp(-1, 1), atol=1 / 127)  # the download = what is shown
    edits = json.loads((s.inversion.folder / "edits.json").read_text())["edits"]
    assert edits["0_sefa"]["label"] == "sefa1_+3"
    assert edits["0_sefa"]["editor"]["params"]["strengths"] == [3.0]


def test_style_mixing_with_an_uploaded_source(near_session):
    s = near_session
    ref = s.upload_reference(repo_root() / "assets/images/real/rocket.png", name="rocket.png")
    coarse, _ = s.edit(1, {"source": str(ref), "layers": "coarse"})
    fine, _ = s.edit(1, {"source": str(ref), "layers": "fine"})
    assert float((coarse - fine).abs().mean()) > 0.01
    with pytest.raises(SessionError, match="Style mixing"):
        s.edit(1, {"source": str(ref), "layers": "99"})  # no such layer: an error, not a crash


def test_edits_reproduce_with_ganedit_run(near_session, tmp_path):
    """edits.yaml is the run config with the page's edits as its editors: `ganedit run` renders them
    again (the inversion included) to the same pixels; style mixing with an image source up to the
    random start of that source's own inversion (the global RNG differs)."""
    s = near_session
    s.edit(0, {"strength": -2.0, "direction": "0"})
    folder = s.inversion.folder
    edits = json.loads((folder / "edits.json").read_text())["edits"]
    ganedit.run(folder / "edits.yaml", output=tmp_path, quiet=True)
    name = s.inversion.name
    for key, e in edits.items():
        again = load_image(tmp_path / "images" / name / f"{e['label']}.png")
        shown = load_image(folder / "edits" / e["image"])
        if e["editor"]["type"] == "style_mixing":
            assert float(psnr(again[None], shown[None])) > 35, key
        else:
            assert torch.equal(again, shown), key


def test_swap_session_edits_and_mask(swap):
    s = Session(swap)
    s.pick(swap.samples[1].name)
    inv = s.invert()
    assert inv.initial is None and inv.metrics["psnr_final"] > 15
    assert (inv.folder / "images" / "swap_grid.png").is_file() and inv.files["latent"].is_file()
    interp = swap.panels[0]
    same, _ = s.edit(interp, {"strength": 0.0})
    assert torch.allclose(same, inv.final, atol=1e-5)
    swapped, _ = s.edit(interp, {"strength": 1.0})
    assert float((swapped - same).abs().mean()) > 0.02
    # A painted mask on the right half changes the right half only (the config's region is 'left').
    right = torch.zeros(64, 64)
    right[:, 32:] = 1
    region = swap.panels[1]
    painted, _ = s.edit(region, {"mask": str(s.save_mask(right))})
    default, _ = s.edit(region, {})
    assert float((painted - default).abs().mean()) > 0.01
    assert float((painted[..., :16] - inv.final[..., :16]).abs().max()) < float((painted[..., 48:] - inv.final[..., 48:]).abs().max())
    assert s.save_mask(torch.zeros(64, 64)) is None  # nothing painted: the config's mask


def test_tcp_session_composites_input(tcp):
    s = Session(tcp)
    s.pick(tcp.samples[0].name)
    inv = s.invert()
    # Editor 1 pastes the input's pixels outside the mask (composite: input), at any alpha.
    out, _ = s.edit(tcp.panels[1], {"strength": 0.0})
    outside = load_image(repo_root() / "assets/images/tcp/masks/left.png")[0] < 0
    assert torch.allclose(out[:, outside], inv.target[:, outside], atol=1e-4)
    styled, _ = s.edit(tcp.panels[0], {"strength": 1.0})
    assert float((styled - inv.final).abs().mean()) > 0.01


def test_panels_map_controls_to_editor_params():
    """Each panel turns its controls into the editor's own params (the editor does the editing)."""
    from ganedit.serve.editing import References, make_panels

    refs = References(images=[("a", "a.png")], textures=[("t", "t.png")])
    sefa, ganspace, tcp = make_panels([
        {"type": "sefa", "params": {"num_directions": 3, "strengths": [-3.0, 3.0]}},
        {"type": "ganspace", "params": {"path": "pca.npz", "mode": "offset", "edits": [
            {"component": 0, "layers": "all", "sigmas": [-2.0, 2.0]},
            {"component": 4, "layers": "coarse", "sigmas": [1.0]}]}},
        {"type": "tcp_region", "params": {"style": "s.png", "mask": "m.png", "strengths": [1.0],
                                          "composite": "input"}}], refs)
    assert sefa.params({"direction": "2", "strength": 1.5}) == (
        {"num_directions": 3, "strengths": [1.5]}, 2)
    params, pick = ganspace.params({"control": "1", "strength": -1.0})
    assert params["edits"] == [{"component": 4, "layers": "coarse", "sigmas": [-1.0]}] and pick == 0
    assert params["path"] == "pca.npz" and params["mode"] == "offset"
    assert [c[0] for c in ganspace.controls[0].choices] == ["component 0", "component 4 (coarse)"]
    params, _ = tcp.params({"mask": "painted.png", "style": "t.png", "strength": 0.5})
    assert params["regions"] == [{"mask": "painted.png", "style": "t.png"}] and params["strengths"] == [0.5]
    assert params["composite"] == "input" and params["style"] is None and params["mask"] is None
    params, _ = tcp.params({})  # nothing painted: the config's own mask and first style
    assert params["regions"] == [{"mask": "m.png", "style": "s.png"}]


def test_slider_ranges_cover_the_config(near):
    strength = next(c for c in near.panels[0].controls if isinstance(c, Slider))
    assert strength.minimum <= -3 and strength.maximum >= 3 and strength.value == 0


# ----------------------------------------------------------------------------- page handlers, CLI
def test_page_handlers(near_session, tmp_path):
    pytest.importorskip("gradio")
    from ganedit.serve.app import build_app, painted_mask

    demo = build_app([near_session.bench])
    tab = demo.ganedit_tabs[0]
    text, _, _ = bad_files(tmp_path)
    state, status, target, cleared = tab.on_upload(None, str(text))
    assert "upload refused" in status and "not an image" in status and target is None and cleared is None
    state, status, target, _ = tab.on_upload(state, str(repo_root() / "assets/images/real/coffee.png"))
    assert status.startswith("Loaded") and target.size == (256, 256)
    image, download, status = tab.renderer(near_session.bench.panels[0])(near_session, "0", 1.5)
    assert image.size == (256, 256) and download["value"].endswith("0_sefa.png")
    # Strokes of the image editor (RGBA layers at the shown size) become a mask at the model's size.
    layer = torch.zeros(256, 256, 4, dtype=torch.uint8)
    layer[:, 128:, 3] = 255
    mask = painted_mask({"background": None, "layers": [layer.numpy()], "composite": None}, 64)
    assert mask.shape == (64, 64) and mask[:, 32:].min() == 1 and mask[:, :32].max() == 0
    assert painted_mask({"background": None, "layers": [], "composite": None}, 64) is None


def test_cli_serve_help_and_missing_gradio(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--max-upload-mb" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the optional extra were not installed
    assert main(["serve", "configs/near_inversion.yaml"]) == 2
    assert "pip install -e '.[serve]'" in capsys.readouterr().err


def test_cli_serves_the_page(tmp_path):
    """`ganedit serve CONFIG` starts the server on 127.0.0.1 and serves the page until stopped."""
    pytest.importorskip("gradio")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "ganedit", "serve", "configs/tcp_region.yaml", "--port", str(port),
                             "--output", str(tmp_path)], cwd=repo_root(), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + 180, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(1)
        assert proc.poll() is None, proc.stdout.read()
        assert "ganedit editor" in page
    finally:
        proc.terminate()
        proc.wait(timeout=60)
