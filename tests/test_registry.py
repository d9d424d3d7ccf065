"""Registry: entry-point discovery, broken plugins, duplicates, build()."""

import sys
import textwrap

import pytest

import ganedit
from ganedit.config import ConfigError
from ganedit.registry import PluginError, Registry, RegistryError
from ganedit.testing import ToyGenerator, ToyPlugin, make_registry


def make_dist(root, dist, module, body, version="1.0"):
    """Write a module and a minimal ``*.dist-info`` with a ganedit entry point under ``root``."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganedit]\n{module} = {module}\n")


GOOD = """
import ganedit
from ganedit.testing import ToyGenerator

class Twin(ToyGenerator, name="twin"):
    '''Same toy generator under a clashing name.'''

@ganedit.hookimpl
def register_components(register):
    register(Twin)
"""


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in ("good_a", "good_b", "broken_imp", "broken_reg"):
        sys.modules.pop(mod, None)


def test_entry_point_plugins_broken_and_duplicates(plugin_path):
    make_dist(plugin_path, "ganedit-good-a", "good_a", GOOD)
    make_dist(plugin_path, "ganedit-good-b", "good_b", GOOD)
    make_dist(plugin_path, "ganedit-broken-imp", "broken_imp", "raise RuntimeError('boom at import')\n")
    make_dist(plugin_path, "ganedit-broken-reg", "broken_reg", """
        import ganedit
        from ganedit.testing import ToyGenerator
        class Half(ToyGenerator, name="half"):
            pass
        @ganedit.hookimpl
        def register_components(register):
            register(Half)
            raise ValueError("boom in register")
        """)
    reg = Registry(strict=False).load_entry_points()
    by_dist = {p.dist: p for p in reg.plugins}
    assert by_dist["ganedit-broken-imp"].status == "broken"
    assert "boom at import" in by_dist["ganedit-broken-imp"].error
    assert by_dist["ganedit-broken-reg"].status == "broken"
    # a failed registration is rolled back: nothing half-registered stays visible
    assert not reg.find("half")
    assert by_dist["ganedit-good-a"].status == "ok" and by_dist["ganedit-good-b"].status == "ok"
    assert by_dist["ganedit"].status == "ok"  # the core still loads
    # two distributions registering the same name: both kept, bare name ambiguous
    with pytest.raises(RegistryError) as err:
        reg.get("generator", "twin")
    assert "ganedit-good-a:twin" in str(err.value) and "ganedit-good-b:twin" in str(err.value)
    assert reg.get("generator", "ganedit-good-b:twin").dist == "ganedit-good-b"


def test_strict_mode_reraises(plugin_path):
    make_dist(plugin_path, "ganedit-broken-imp", "broken_imp", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError, match="boom at import"):
        Registry(strict=True).load_entry_points()


def test_same_plugin_registering_twice_is_broken():
    class Twice:
        @ganedit.hookimpl
        def register_components(self, register):
            register(ToyGenerator)
            register(ToyGenerator)

    reg = make_registry(strict=False)
    info = reg.add_plugin(Twice(), name="twice", dist="twice")
    assert info.status == "broken" and "twice" in info.error
    assert not reg.find("toy")


def test_register_rejects_bad_components():
    class NoParams:
        pass

    class Wizard(ganedit.Component, name="x"):
        kind = "wizard"

    class Bad:
        @ganedit.hookimpl
        def register_components(self, register):
            register(NoParams)

    class BadKind:
        @ganedit.hookimpl
        def register_components(self, register):
            register(Wizard)

    reg = make_registry(strict=False)
    assert "Params" in reg.add_plugin(Bad(), name="bad").error
    assert "unknown kind 'wizard'" in reg.add_plugin(BadKind(), name="badkind").error


def test_build_and_unknown_type(registry):
    g = ganedit.build("generator", {"type": "toy", "params": {"resolution": 8}}, registry=registry)
    assert isinstance(g, ToyGenerator) and g.img_resolution == 8
    with pytest.raises(RegistryError, match="did you mean 'toy'"):
        registry.get("generator", "tyo")
    with pytest.raises(ConfigError, match=r"generator.params.resolutoin \(toy\): unknown key; did you mean 'resolution'"):
        ganedit.build("generator", {"type": "toy", "params": {"resolutoin": 8}}, registry=registry)


def test_ganedit_build_uses_default_registry(registry):
    from ganedit.registry import set_registry

    set_registry(registry)
    try:
        g = ganedit.build("generator", {"type": "toy"})
        assert g.num_ws == 6
    finally:
        set_registry(None)


def test_first_party_plugins_load_through_entry_points():
    reg = Registry(strict=False).load_entry_points()
    dists = {p.dist: p.status for p in reg.plugins}
    for dist in ("ganedit", "ganedit-stylegan2", "ganedit-swapae", "ganedit-tcp", "ganedit-stylealae",
                 "ganedit-inversion", "ganedit-encoders"):
        assert dists.get(dist) == "ok", (dist, dists)


def test_toy_plugin_fixture_isolated(registry):
    assert [p.dist for p in registry.plugins] == ["ganedit", ToyPlugin.DIST]
