"""ganedit.run: output folder layout, determinism, editors from a third-party plugin (in process)."""

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

import ganedit
from ganedit.cli import main
from ganedit.config import ConfigError, Slot
from ganedit.io.images import load_image
from ganedit.registry import set_registry
from ganedit.testing import ToyPlugin, make_registry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ganedit-example-editor"


@pytest.fixture
def example_module(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import ganedit_example_editor

    yield ganedit_example_editor
    sys.modules.pop("ganedit_example_editor", None)


@pytest.fixture
def reg(example_module):
    r = make_registry(ToyPlugin())
    r.add_plugin(example_module, name="example_editor", dist="ganedit-example-editor")
    set_registry(r)
    yield r
    set_registry(None)


CONFIG = {
    "task": "sample",
    "seed": 3,
    "device": "cpu",
    "generator": {"type": "toy", "params": {"resolution": 16}},
    "num_images": 4,
    "editors": [{"type": "truncation_sweep", "params": {"psis": [0.0, 2.0]}}],
}


def test_run_outputs_and_determinism(reg, tmp_path):
    s1 = ganedit.run(CONFIG, output=tmp_path / "a", quiet=True, registry=reg)
    s2 = ganedit.run(CONFIG, output=tmp_path / "b", quiet=True, registry=reg)
    assert s1 == s2 and s1["edits"] == 2
    for name in ("config.yaml", "plugins.json", "metrics.json", "images/grid.png", "images/sample_0000.png",
                 "images/truncation_0_0000.png"):
        assert (tmp_path / "a" / name).is_file(), name
    m1 = json.loads((tmp_path / "a" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert m1 == m2 and len(m1["images"]) == 4
    assert torch.equal(load_image(tmp_path / "a/images/grid.png"), load_image(tmp_path / "b/images/grid.png"))
    # another seed gives other numbers
    s3 = ganedit.run(CONFIG, output=tmp_path / "c", seed=4, quiet=True, registry=reg)
    assert s3["mean"] != s1["mean"]
    plugins = json.loads((tmp_path / "a" / "plugins.json").read_text())
    assert "editor:truncation_sweep" in plugins["used"]["ganedit-example-editor"]
    # the resolved config.yaml is complete and runs again to the same result
    resolved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert resolved["editors"][0]["params"]["layers"] is None
    assert ganedit.run(resolved, output=tmp_path / "d", quiet=True, registry=reg) == s1


def test_truncation_zero_gives_average_image(reg, tmp_path):
    ganedit.run(CONFIG, output=tmp_path, quiet=True, registry=reg)
    a = load_image(tmp_path / "images/truncation_0_0000.png")
    b = load_image(tmp_path / "images/truncation_0_0003.png")
    assert torch.allclose(a, b)  # psi=0: every sample collapses to w_avg
    assert not torch.allclose(load_image(tmp_path / "images/sample_0000.png"),
                              load_image(tmp_path / "images/sample_0003.png"))


def test_cli_run_and_plugins_listing(reg, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    assert main(["run", str(cfg), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "metrics.json").is_file()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "ganedit-example-editor 0" in out and "editor:truncation_sweep" in out
    # editor incompatible with the latent space fails at validation time
    bad = dict(CONFIG, editors=[{"type": "truncation_sweep", "params": {"psis": []}}])
    cfg.write_text(yaml.safe_dump(bad))
    assert main(["validate", str(cfg)]) == 2
    assert "editors.0.params.psis (truncation_sweep)" in capsys.readouterr().err


def test_threads_option(reg, tmp_path, monkeypatch):
    """``threads:`` sets torch's CPU threads for the run only and is kept in the resolved config."""
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    before = torch.get_num_threads()
    ganedit.run({**CONFIG, "threads": 1}, output=tmp_path / "t", quiet=True, registry=reg)
    assert calls == [1, before] and torch.get_num_threads() == before
    assert yaml.safe_load((tmp_path / "t" / "config.yaml").read_text())["threads"] == 1
    with pytest.raises(ConfigError, match=r"threads.*greater than or equal to 1"):
        ganedit.run({**CONFIG, "threads": 0}, output=tmp_path / "u", quiet=True, registry=reg)


class _Chain(ganedit.Editor, name="chain"):
    """Test editor with a nested editor slot (built through the run context)."""

    class Params(ganedit.Params):
        inner: Slot("editor")

    @classmethod
    def from_params(cls, params, context=None):
        editor = cls(params)
        editor.inner = context.build("editor", params.inner)
        return editor

    def edit(self, generator, latent, context=None):
        return self.inner.edit(generator, latent, context)


class _ChainPlugin:
    DIST = "test-chain"
    __name__ = "test_chain"

    @ganedit.hookimpl
    def register_components(self, register):
        register(_Chain)


def test_nested_components_are_built_through_the_run_context(reg, tmp_path):
    """One build path: a component's nested slot is recorded in plugins.json like a top-level one."""
    reg.add_plugin(_ChainPlugin(), name="test_chain", dist="test-chain")
    config = dict(CONFIG, editors=[{"type": "chain", "params": {"inner": {"type": "truncation_sweep",
                                                                          "params": {"psis": [0.5]}}}}])
    summary = ganedit.run(config, output=tmp_path / "n", quiet=True, registry=reg)
    assert summary["edits"] == 1
    used = json.loads((tmp_path / "n" / "plugins.json").read_text())["used"]
    assert used["test-chain"] == ["editor:chain"]
    assert used["ganedit-example-editor"] == ["editor:truncation_sweep"]
    assert used["ganedit-testing"] == ["generator:toy"] and used["ganedit"] == ["task:sample"]
