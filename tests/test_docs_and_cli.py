"""Docs examples run; the CLI in a subprocess with a broken plugin and the example plugin."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ganedit-example-editor"


def python_blocks(doc: Path) -> str:
    return "\n\n".join(re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S))


@pytest.mark.parametrize("doc", ["python-api.md", "writing-plugins.md"])
def test_doc_examples_run(doc, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(python_blocks(REPO / "docs" / doc))
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def test_writing_plugins_shows_the_example_plugin_unchanged():
    """docs/writing-plugins.md walks through examples/ganedit-example-editor: its first code block is
    the example's module, verbatim (and test_doc_examples_run runs it)."""
    first = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "writing-plugins.md").read_text(), flags=re.S)[0]
    example = (EXAMPLE / "ganedit_example_editor" / "__init__.py").read_text()
    assert first.strip() == example.strip()


def fake_install(root: Path, dist: str, module: str, target: str, version: str = "0.1.0") -> None:
    """A dist-info on the path makes an entry point visible without pip."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganedit]\n{module} = {target}\n")


def cli(args, env_path, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, env_path)))
    env.pop("GANEDIT_STRICT_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "ganedit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_broken_plugin_is_reported_and_cli_keeps_working(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ganedit_broken.py").write_text("raise ImportError('missing dependency foo')\n")
    fake_install(site, "ganedit-broken", "broken", "ganedit_broken")
    res = cli(["plugins"], [site], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "ganedit-broken 0.1.0  [broken]" in res.stdout
    assert "missing dependency foo" in res.stdout
    assert "ganedit-stylegan2" in res.stdout and "[ok]" in res.stdout
    res = cli(["components", "--kind", "dataset"], [site], tmp_path)
    assert res.returncode == 0 and "procedural" in res.stdout
    res = cli(["--strict-plugins", "components"], [site], tmp_path)
    assert res.returncode == 2 and "missing dependency foo" in res.stderr


def test_example_plugin_visible_and_used_in_run(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    fake_install(site, "ganedit-example-editor", "example_editor", "ganedit_example_editor")
    res = cli(["plugins"], [site, EXAMPLE], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "ganedit-example-editor 0.1.0  [ok]" in res.stdout and "editor:truncation_sweep" in res.stdout
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(textwrap.dedent("""
        task: sample
        seed: 0
        device: cpu
        generator:
          type: stylegan2
          params: {resolution: 16, z_dim: 16, n_mlp: 2, channel_multiplier: 1, channels: {4: 16, 8: 16, 16: 16}}
        num_images: 2
        editors:
          - type: truncation_sweep
            params: {psis: [0.0, 1.5]}
        """))
    res = cli(["run", str(cfg), "--output", str(tmp_path / "out"), "--quiet"], [site, EXAMPLE], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "out" / "images" / "truncation_1.5_0000.png").is_file()
    assert "ganedit-example-editor" in (tmp_path / "out" / "plugins.json").read_text()


FIRST_PARTY = ["ganedit", "ganedit-stylegan2", "ganedit-swapae", "ganedit-tcp", "ganedit-stylealae",
               "ganedit-inversion", "ganedit-encoders"]


def test_component_reference_is_up_to_date():
    """docs/components.md is `ganedit describe --all --markdown` for the shipped plugins."""
    from ganedit.cli import components_markdown
    from ganedit.registry import Registry

    reg = Registry(strict=False).load_entry_points()
    expected = components_markdown(reg, dists=FIRST_PARTY)
    current = (REPO / "docs" / "components.md").read_text()
    assert current == expected, ("docs/components.md is stale: run python scripts/gen_component_docs.py")
