"""Image I/O for every pillow mode, truncated files, resize policy, atomic writes, native checkpoints."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from ganedit.io.atomic import atomic_path, atomic_write_text
from ganedit.io.checkpoint import CheckpointError, load_native, read_native_config, safe_torch_load, save_native
from ganedit.io.images import ImageReadError, list_images, load_image, make_grid, save_image


def px(t, y=0, x=0):
    """Pixel of a [-1, 1] tensor back in 0..255."""
    return [round(v) for v in ((t[:, y, x] + 1) * 127.5).tolist()]


@pytest.mark.parametrize("mode,make,expected", [
    ("RGB", lambda: Image.new("RGB", (4, 4), (10, 20, 30)), [10, 20, 30]),
    ("L", lambda: Image.new("L", (4, 4), 100), [100, 100, 100]),
    ("LA", lambda: Image.new("LA", (4, 4), (0, 0)), [255, 255, 255]),          # transparent -> white
    ("RGBA", lambda: Image.new("RGBA", (4, 4), (200, 0, 0, 255)), [200, 0, 0]),
    ("RGBA-half", lambda: Image.new("RGBA", (4, 4), (0, 0, 0, 128)), [127, 127, 127]),
    ("P", lambda: Image.new("RGB", (4, 4), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE), [0, 128, 255]),
    ("I;16", lambda: Image.fromarray(np.full((4, 4), 65535, np.uint16)), [255, 255, 255]),
    ("I;16-half", lambda: Image.fromarray(np.full((4, 4), 32896, np.uint16)), [128, 128, 128]),
    ("I", lambda: Image.fromarray(np.full((4, 4), 0, np.int32)), [0, 0, 0]),
    ("F", lambda: Image.fromarray(np.full((4, 4), 0.5, np.float32)), [128, 128, 128]),
    ("CMYK", lambda: Image.new("CMYK", (4, 4), (0, 255, 255, 0)), [255, 0, 0]),
    ("1", lambda: Image.new("1", (4, 4), 1), [255, 255, 255]),
])
def test_every_mode_to_rgb(tmp_path, mode, make, expected):
    img = make()
    path = tmp_path / f"img_{mode}.{'tiff' if img.mode in ('I;16', 'I', 'F', 'CMYK') else 'png'}"
    img.save(path)
    t = load_image(path)
    assert t.shape == (3, 4, 4) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    got = px(t)
    assert all(abs(g - e) <= 1 for g, e in zip(got, expected)), (got, expected)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    assert px(load_image(tmp_path / "p.png")) == [255, 255, 255]


def test_truncated_and_bad_files(tmp_path):
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as err:
        load_image(tmp_path / "cut.png")
    msg = str(err.value)
    assert str(tmp_path / "cut.png") in msg and "\n" not in msg
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="not an image file"):
        load_image(tmp_path / "text.png")
    with pytest.raises(ImageReadError, match="image file not found"):
        load_image(tmp_path / "missing.png")


def test_resize_policies(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red left quarter is cropped away by center_crop
    img.save(tmp_path / "wide.png")
    cc = load_image(tmp_path / "wide.png", 16)
    assert cc.shape == (3, 16, 16) and px(cc, 8, 0)[2] > 200  # blue at the left edge after crop
    rs = load_image(tmp_path / "wide.png", 16, "resize")
    assert px(rs, 8, 0)[0] > 200  # red kept
    pd = load_image(tmp_path / "wide.png", 16, "pad")
    assert px(pd, 0, 8) == [255, 255, 255] and px(pd, 8, 8)[2] > 200


def test_save_roundtrip_and_grid(tmp_path):
    t = torch.rand(3, 8, 8) * 2 - 1
    save_image(tmp_path / "a.png", t)
    back = load_image(tmp_path / "a.png")
    assert (back - t).abs().max() <= 1 / 127.5 + 1e-6
    grid = make_grid(torch.zeros(5, 3, 4, 4), nrow=2, padding=1)
    assert grid.shape == (3, 3 * 5 + 1, 2 * 5 + 1)
    assert list_images(tmp_path) == [tmp_path / "a.png"]
    assert list_images(str(tmp_path / "*.png")) == [tmp_path / "a.png"]


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temp file left behind
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_native_checkpoint_roundtrip_and_errors(tmp_path):
    tensors = {"a.weight": torch.randn(3, 4), "b": torch.arange(5)}
    save_native(tmp_path / "m.safetensors", tensors, {"kind": "generator", "type": "toy", "size": 4})
    loaded, cfg = load_native(tmp_path / "m.safetensors", expect={"type": "toy"})
    assert torch.equal(loaded["a.weight"], tensors["a.weight"]) and cfg["size"] == 4
    with pytest.raises(CheckpointError, match="expected 'swapae'"):
        load_native(tmp_path / "m.safetensors", expect={"type": "swapae"})
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_native(tmp_path / "cut.safetensors")
    (tmp_path / "x.bin").write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_native_config(tmp_path / "x.bin")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_native(tmp_path / "absent.safetensors")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch EVIL_RAN",))


def test_safe_torch_load_refuses_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused to load"):
        safe_torch_load(tmp_path / "evil.pt")
    assert not (tmp_path / "EVIL_RAN").exists()
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        safe_torch_load(tmp_path / "junk.pt")
