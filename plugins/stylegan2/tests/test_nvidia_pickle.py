"""Restricted unpickling: NVIDIA pickles load as inert records, anything executable is refused."""

from __future__ import annotations

import builtins
import collections
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from ganedit.io.checkpoint import CheckpointError
from ganedit.testing import fixtures_dir
from ganedit_stylegan2.nvidia import is_nvidia_pickle, load_nvidia_pickle, read_nvidia_records
from ganedit_stylegan2.restricted_pickle import (
    EasyDict,
    ModuleRecord,
    is_pickle_file,
    restricted_load,
    restricted_loads,
)

FIXTURE = fixtures_dir() / "stylegan2_ada_nvidia"


def _fixture(name: str) -> Path:
    if not FIXTURE.is_dir():
        pytest.skip(f"fixture folder {FIXTURE} is absent")
    return FIXTURE / name


class _Evil:
    """Unpickling this calls ``func(*args)``: what a malicious checkpoint would do."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


# ------------------------------------------------------------------------------ the fixture pickle


def test_fixture_records_match_keys_txt():
    data = restricted_load(_fixture("network.pkl"))
    assert set(data) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    expected = []
    for line in _fixture("keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, kind, shape, dtype = line.split("\t")
            expected.append((name, kind, shape))
    got = []
    for net in ("G", "D", "G_ema"):
        rec = data[net]
        assert isinstance(rec, ModuleRecord) and rec.origin == "torch_utils.persistence"
        for path, sub in rec.named_records(f"{net}."):
            for k, v in sub.parameters.items():
                got.append((f"{path}.{k}", "param", str(list(v.shape))))
            for k, v in sub.buffers.items():
                got.append((f"{path}.{k}", "buffer", str(list(v.shape))))
    assert got == expected  # same names, kinds, shapes and state_dict() order
    assert list(data["G_ema"].state_dict("G_ema.")) == [n for n, k, _ in expected if n.startswith("G_ema.")]


def test_fixture_records_hold_kwargs_and_attributes():
    data = restricted_load(_fixture("network.pkl"))
    g = data["G_ema"]
    assert g.class_name == "Generator"
    kw = g.init_kwargs
    assert kw["z_dim"] == 64 and kw["c_dim"] == 0 and kw["img_resolution"] == 64
    assert isinstance(kw["mapping_kwargs"], EasyDict) and kw["mapping_kwargs"].num_layers == 4
    assert kw["synthesis_kwargs"] == {"channel_base": 2048, "channel_max": 64, "num_fp16_res": 0, "conv_clamp": None}
    layer = g.submodule("synthesis.b64.torgb")
    # numpy float64 scalars (written as numpy.core.multiarray.scalar) arrive as Python floats.
    assert type(layer.attrs["weight_gain"]) is float and layer.attrs["weight_gain"] == pytest.approx(32**-0.5)
    assert "module_src" not in g.meta and g.meta["version"] == 6
    assert data["D"].submodule("b4.mbstd").attrs == {"group_size": 4, "num_channels": 1}
    assert data["augment_pipe"] is None and data["training_set_kwargs"] is None


# ------------------------------------------------------------------------------ refusing code


@pytest.mark.parametrize("make", [
    lambda m: _Evil(os.system, f"touch {m}"),
    lambda m: _Evil(builtins.exec, f"open({str(m)!r}, 'w').write('pwned')"),
    lambda m: _Evil(builtins.eval, f"open({str(m)!r}, 'w').write('pwned')"),
    lambda m: _Evil(subprocess.call, ["touch", str(m)]),
    lambda m: _Evil(open, str(m), "w"),
], ids=["os.system", "builtins.exec", "builtins.eval", "subprocess.call", "open"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, make):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    # Hidden inside an otherwise plausible network dict, after a real tensor.
    payload = {"G_ema": {"weight": torch.ones(2)}, "D": [1, 2, make(marker)]}
    path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(CheckpointError) as info:
        restricted_load(path)
    msg = str(info.value)
    assert str(path) in msg and "not allowed" in msg and "nothing was executed" in msg
    func = make(marker).func
    assert f"{func.__module__}.{func.__qualname__}" in msg  # e.g. posix.system, builtins.exec
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=f"global {func.__module__}.{func.__qualname__} is not allowed"):
        load_nvidia_pickle(path)
    assert not marker.exists()


def test_posix_system_global_named_in_error(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Evil(os.system, f"touch {marker}")))
    with pytest.raises(CheckpointError, match=r"global posix\.system is not allowed"):
        restricted_load(path)
    assert not marker.exists()


def test_embedded_storage_blob_with_code_is_refused(tmp_path):
    """Storages go through ``torch.load(weights_only=True)``; a blob that pickles code is refused."""
    import io

    marker = tmp_path / "marker"
    buf = io.BytesIO()
    torch.save(_Evil(os.system, f"touch {marker}"), buf, _use_new_zipfile_serialization=False)
    from torch.storage import _load_from_bytes

    path = tmp_path / "blob.pkl"
    path.write_bytes(pickle.dumps(_Evil(_load_from_bytes, buf.getvalue())))
    with pytest.raises(CheckpointError, match="embedded torch storage refused"):
        restricted_load(path)
    assert not marker.exists()


def test_torch_functions_other_than_rebuilders_are_refused(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(_Evil(torch.load, "/etc/passwd")))
    with pytest.raises(CheckpointError, match=r"global torch\.serialization\.load is not allowed"):
        restricted_load(path)


def test_build_on_allowed_globals_cannot_patch_the_loader():
    """Pickle's BUILD can set attributes on any object it references, globals included."""
    import struct

    from ganedit_stylegan2 import restricted_pickle as rp

    def text(x: str) -> bytes:
        return b"X" + struct.pack("<I", len(x)) + x.encode()

    getattr_before, defaults_before = rp.EasyDict.__dict__["__getattr__"], rp._codecs_encode.__defaults__
    attacks = [  # GLOBAL, then BUILD with (None, {attribute: value}) = setattr on the global
        b"\x80\x02cdnnlib.util\nEasyDict\nN}" + text("__getattr__") + b"K\x01s\x86b.",
        b"\x80\x02c_codecs\nencode\nN}" + text("__defaults__") + b"(" + text("bad") + b"ts\x86b.",
    ]
    for data in attacks:
        with pytest.raises(CheckpointError, match="corrupt or unsupported pickle"):
            restricted_loads(data)
    assert rp.EasyDict.__dict__["__getattr__"] is getattr_before
    assert rp._codecs_encode.__defaults__ == defaults_before


# ------------------------------------------------------------------------------ bad files


def test_truncated_pickle(tmp_path):
    data = _fixture("network.pkl").read_bytes()
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    assert is_pickle_file(path) and is_nvidia_pickle(path)
    with pytest.raises(CheckpointError, match=r"cut\.pkl: truncated pickle"):
        restricted_load(path)
    with pytest.raises(CheckpointError, match="truncated"):
        load_nvidia_pickle(path)


def test_not_a_pickle(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("this is not a network\n")
    zipped = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(1)}, zipped)
    for p in (text, zipped):
        assert not is_pickle_file(p) and not is_nvidia_pickle(p)
        with pytest.raises(CheckpointError, match=rf"{p.name}: not a pickle file"):
            load_nvidia_pickle(p)
    with pytest.raises(CheckpointError, match="not found"):
        load_nvidia_pickle(tmp_path / "missing.pkl")


def test_pickle_without_networks_is_not_nvidia(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"g_ema": {"w": torch.ones(1)}}))
    with pytest.raises(CheckpointError, match="not an NVIDIA network pickle"):
        read_nvidia_records(path)


# ------------------------------------------------------------------------------ plain data


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_data_round_trips(protocol):
    value = {
        "f64": np.float64(0.125), "i64": np.int64(-7), "flag": np.bool_(True), "half": np.float16(0.5),
        "arr": np.arange(6, dtype=">f4").reshape(2, 3), "farr": np.asfortranarray(np.eye(2, 3)),
        "ordered": collections.OrderedDict(a=1, b=[1.5, None]), "set": {1, 2}, "bytes": b"\x00\xff",
        "dtype": torch.float16, "size": torch.Size([2, 3]), "device": torch.device("cpu"),
        "tensor": torch.arange(10.0)[2:8].reshape(2, 3), "view": torch.ones(3, 2).t(),
        "param": torch.nn.Parameter(torch.full((2,), 3.0)),
    }
    out = restricted_loads(pickle.dumps(value, protocol=protocol))
    assert out["f64"] == 0.125 and type(out["f64"]) is float
    assert out["i64"] == -7 and out["flag"] is True and out["half"] == 0.5
    np.testing.assert_array_equal(out["arr"], value["arr"])
    np.testing.assert_array_equal(out["farr"], value["farr"])
    assert out["ordered"] == value["ordered"] and out["set"] == {1, 2} and out["bytes"] == b"\x00\xff"
    assert out["dtype"] is torch.float16 and out["size"] == torch.Size([2, 3]) and out["device"].type == "cpu"
    for key in ("tensor", "view", "param"):
        assert torch.equal(out[key], value[key].detach())
    assert type(out["param"]) is torch.Tensor  # inert: parameters come back as plain tensors


def test_numpy1_scalar_spelling_is_accepted():
    """numpy 1.x writers spell the reconstructor ``numpy.core.multiarray.scalar`` (numpy 2: ``_core``)."""
    data = pickle.dumps([np.float64(2.5), np.arange(3, dtype="<i4")], protocol=2)  # GLOBAL opcodes, no frames
    assert data.count(b"cnumpy._core.multiarray\n") == 2
    old = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    value, arr = restricted_loads(old)
    assert value == 2.5 and arr.tolist() == [0, 1, 2]


def test_torch_modules_become_records():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.LeakyReLU(0.2))
    rec = restricted_loads(pickle.dumps(net))
    assert isinstance(rec, ModuleRecord) and rec.class_name == "Sequential"
    assert rec.children["1"].class_name == "LeakyReLU" and rec.children["1"].attrs["negative_slope"] == 0.2
    sd = rec.state_dict()
    assert list(sd) == list(net.state_dict())
    assert all(torch.equal(sd[k], v) for k, v in net.state_dict().items())
